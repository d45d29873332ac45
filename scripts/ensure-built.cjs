#!/usr/bin/env node
// `npm start` runs the compiled dist/. This rebuilds it only when a source file is newer than the last
// build (npm install already built it through `prepare`), so starting stays fast and never runs stale code.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stamp = path.join(root, 'dist', '.build-stamp');

function newest(dir) {
  let latest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs);
  }
  return latest;
}

if (process.argv.includes('--stamp')) {
  fs.writeFileSync(stamp, new Date().toISOString());
  process.exit(0);
}

const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
const sources = Math.max(
  ...['src', 'migrations'].map((dir) => newest(path.join(root, dir))),
  ...['package.json', 'tsconfig.json', 'tsconfig.build.json'].map((file) => fs.statSync(path.join(root, file)).mtimeMs),
);
if (sources > built) {
  console.error('Building Herald (sources changed since the last build)...');
  execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
}
