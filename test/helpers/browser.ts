import { type Browser, chromium } from 'playwright-core';

/**
 * Headless Chromium from the @sparticuz/chromium npm package, so `npm install` brings the browser and a machine
 * with only Node.js and npm runs the browser tests. Not the package's own flags: they run one process with an
 * in-process software GPU, and every launch after the first died opening a page. LANG: under LANG=C.UTF-8 this
 * build reports the language "en-US@posix", which Intl (and so uPlot, as its module loads) refuses.
 */
export async function launchChromium(): Promise<Browser> {
  // An ES module: imported, not required.
  const { default: sparticuz } = await import('@sparticuz/chromium');
  return chromium.launch({
    executablePath: await sparticuz.executablePath(),
    args: ['--no-sandbox', '--disable-gpu'],
    env: { ...process.env, LANG: 'en_US.UTF-8' },
  });
}
