import { createHash } from 'node:crypto';
import type http from 'node:http';
import type express from 'express';

// The security headers and Content-Security-Policy of every page Herald serves (the API, GraphiQL, the catalog page,
// the dashboard): no ORM, GraphQL or service imports, so any route may use them.

/**
 * Headers on every response Herald sends, the API's included (set where the HTTP server takes each request):
 * nothing is MIME-sniffed, no page can be framed (the dashboard holds an API key), and no URL leaks as a referrer.
 */
export function setSecurityHeaders(res: http.ServerResponse): void {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
}

/**
 * The Content-Security-Policy of an HTML page Herald serves: everything from Herald itself and nothing from
 * another origin, no eval, and only the inline scripts (and style elements) this very page holds, by their
 * sha256 hash, computed from the HTML as sent. GraphiQL (`inlineStyles: 'any'`) gets 'unsafe-inline' for
 * styles only: its page has style attributes, and Monaco and its components insert style elements at run time.
 */
export function pageSecurityPolicy(
  req: express.Request,
  html: string,
  options: {
    inlineStyles?: 'hashed' | 'any';
    /** Origins that may frame the page (the customer portal's PORTAL_FRAME_ANCESTORS); default none. */
    frameAncestors?: readonly string[];
    /** Image sources beside Herald's own (the portal's theme logo: https:). */
    images?: readonly string[];
  } = {},
): string {
  const scripts = inlineHashes(html, 'script');
  const styles = options.inlineStyles === 'any' ? ["'unsafe-inline'"] : inlineHashes(html, 'style');
  // 'self' covers same-origin WebSockets in current browsers; older Safari needs them named.
  const { host } = requestOrigins(req);
  const sockets = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host) ? [`ws://${host}`, `wss://${host}`] : [];
  return [
    "default-src 'none'",
    ['script-src', "'self'", ...scripts].join(' '),
    ['style-src', "'self'", ...styles].join(' '),
    ['img-src', "'self'", 'data:', ...(options.images ?? [])].join(' '),
    "font-src 'self' data:",
    ['connect-src', "'self'", ...sockets].join(' '),
    "worker-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${options.frameAncestors?.length ? options.frameAncestors.join(' ') : "'none'"}`,
  ].join('; ');
}

/** The hash source of each inline <script> or <style> element, as the browser computes it (line breaks normalised). */
function inlineHashes(html: string, element: 'script' | 'style'): string[] {
  const hashes = new Set<string>();
  for (const match of html.matchAll(
    element === 'script' ? /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi : /<style\b([^>]*)>([\s\S]*?)<\/style\s*>/gi,
  )) {
    if (/\bsrc\s*=/i.test(match[1]!)) continue;
    hashes.add(`'sha256-${createHash('sha256').update(match[2]!.replace(/\r\n?/g, '\n')).digest('base64')}'`);
  }
  return [...hashes];
}

/** The origin the browser sees (behind a TLS proxy, the proxy's), for URLs handed to a page. */
export function requestOrigins(req: express.Request): { http: string; ws: string; host: string } {
  const forwarded = req.get('x-forwarded-proto')?.split(',')[0]?.trim();
  const secure = forwarded ? forwarded === 'https' : req.secure;
  const host = req.get('x-forwarded-host') ?? req.get('host') ?? 'localhost';
  return { http: `${secure ? 'https' : 'http'}://${host}`, ws: `${secure ? 'wss' : 'ws'}://${host}`, host };
}
