// Plain HTTP next to the WebSocket: a small page at `/` (the browser dashboard is a later issue)
// and 404 for everything else.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANNEAL_VERSION } from '../../core/version.ts';

/** Answers a plain HTTP request. */
export function handleHttp(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://daemon').pathname;
  if ((req.method === 'GET' || req.method === 'HEAD') && path === '/') {
    const body =
      '<!doctype html><meta charset="utf-8"><title>Anneal daemon</title>' +
      `<h1>Anneal daemon ${ANNEAL_VERSION}</h1>` +
      '<p>This daemon speaks JSON-RPC over WebSocket on this port. The browser dashboard is not available yet; ' +
      'use <code>anneal runs</code> and <code>anneal logs RUN --follow</code>, or the VS Code extension.</p>';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('Not found\n');
}
