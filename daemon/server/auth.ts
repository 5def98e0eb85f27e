// Who may open a WebSocket to the daemon: whoever presents the token (a Bearer header from Node
// clients; `?token=` or an `anneal.token.<token>` subprotocol from browsers, which cannot set headers)
// and, when a browser sends an Origin, only from the daemon's own pages.

import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';

/** The subprotocol a browser offers next to its token; the daemon selects it in the handshake. */
export const ANNEAL_SUBPROTOCOL = 'anneal.v1';
export const TOKEN_SUBPROTOCOL_PREFIX = 'anneal.token.';

export type UpgradeVerdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** The token the request presents, in any of the accepted forms. */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim();
  const url = new URL(req.url ?? '/', 'http://daemon');
  const query = url.searchParams.get('token');
  if (query) return query;
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const tokenProtocol = protocols.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  return tokenProtocol?.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The origins of the daemon's own pages (the dashboard). Loopback names always; the bound host too. */
export function ownOrigins(host: string, port: number): Set<string> {
  const hosts = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (host !== '0.0.0.0' && host !== '::') hosts.add(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
  return new Set([...hosts].map((h) => `http://${h}:${port}`));
}

/** Decides an upgrade request: 403 for a foreign browser Origin, 401 for a missing or wrong token. */
export function verifyUpgrade(req: IncomingMessage, token: string, origins: Set<string>): UpgradeVerdict {
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.has(origin)) {
    return { ok: false, status: 403, reason: `origin ${origin} is not allowed` };
  }
  const presented = presentedToken(req);
  if (!presented) return { ok: false, status: 401, reason: 'no token presented' };
  if (!sameSecret(presented, token)) return { ok: false, status: 401, reason: 'wrong token' };
  return { ok: true };
}
