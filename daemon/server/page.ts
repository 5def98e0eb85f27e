// Plain HTTP next to the WebSocket: the browser dashboard. `/` is the dashboard page, `/samples` the
// samples page; both are a shell around the same bundles VS Code's webviews load
// (dist/webviews/<view>.js + .css). The token is never in a request: the page reads it from the URL
// fragment (or a login form) and presents it when it opens the WebSocket. Everything else is 404.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ANNEAL_VERSION } from '../../core/version.ts';

/** The webview bundles sit next to the CLI bundle (dist/webviews/); ANNEAL_WEBVIEWS overrides it. */
export function webviewsDir(): string {
  return process.env.ANNEAL_WEBVIEWS ?? join(dirname(process.argv[1] ?? '.'), 'webviews');
}

const PAGES: Record<string, { view: 'dashboard' | 'samples'; title: string }> = {
  '/': { view: 'dashboard', title: 'Anneal dashboard' },
  '/samples': { view: 'samples', title: 'Anneal samples' },
};

const ASSET = /^\/webviews\/(dashboard|samples)\.(js|css)$/;
const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

const COMMON_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/**
 * The page may run only our own bundle and styles and talk only to this daemon. `Host` is echoed
 * into connect-src for browsers whose 'self' does not cover ws:, after checking it is a host name.
 */
function contentSecurityPolicy(host: string | undefined): string {
  const socket = host && /^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host) ? ` ws://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${socket}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function shell(view: string, title: string): string {
  return [
    '<!doctype html>',
    '<html lang="en" data-host="browser">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)}</title>`,
    `<link rel="stylesheet" href="/webviews/${view}.css">`,
    '</head>',
    '<body>',
    `<noscript>This Anneal daemon page (the ${view}) needs JavaScript.</noscript>`,
    `<script src="/webviews/${view}.js"></script>`,
    '</body>',
    '</html>',
  ].join('\n');
}

function missingBundlePage(dir: string): string {
  return (
    '<!doctype html><meta charset="utf-8"><title>Anneal daemon</title>' +
    `<h1>Anneal daemon ${escapeHtml(ANNEAL_VERSION)}</h1>` +
    `<p>The dashboard bundles are missing from ${escapeHtml(dir)}. Build them with <code>npm run build</code>, ` +
    'or use <code>anneal runs</code> and <code>anneal logs RUN --follow</code>.</p>'
  );
}

/** Answers a plain HTTP request. */
export function handleHttp(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://daemon').pathname;
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.writeHead(405, { ...COMMON_HEADERS, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
    res.end('Method not allowed\n');
    return;
  }
  if (path === '/favicon.ico') {
    // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
    res.writeHead(204, COMMON_HEADERS);
    res.end();
    return;
  }
  const page = PAGES[path];
  if (page) {
    const dir = webviewsDir();
    const built = existsSync(join(dir, `${page.view}.js`));
    const body = built ? shell(page.view, page.title) : missingBundlePage(dir);
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': contentSecurityPolicy(req.headers.host),
    });
    res.end(head ? undefined : body);
    return;
  }
  const asset = ASSET.exec(path);
  if (asset) {
    let body: Buffer | undefined;
    try {
      body = readFileSync(join(webviewsDir(), `${asset[1]}.${asset[2]}`));
    } catch {
      body = undefined;
    }
    if (body) {
      res.writeHead(200, { ...COMMON_HEADERS, 'content-type': TYPES[asset[2]!]!, 'cache-control': 'no-cache', 'content-length': body.length });
      res.end(head ? undefined : body);
      return;
    }
  }
  res.writeHead(404, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}
