// One JSON-RPC message per WebSocket frame. Decoding checks the envelope before vscode-jsonrpc sees
// it, so a garbage frame gets a JSON-RPC error answer instead of being dropped silently.

import type { Message, ResponseMessage } from 'vscode-jsonrpc';

/** The text of the frame carrying `message`. */
export function encodeFrame(message: Message): string {
  return JSON.stringify(message);
}

/** Deepest nesting of arrays and objects a message may have; deeper ones are refused before parsing. */
export const MAX_NESTING_DEPTH = 64;

/**
 * True when `text` (JSON) nests arrays/objects deeper than `limit`. A scan of the text, not a recursive
 * walk: a message 100,000 levels deep must be refused without blowing any stack (JSON.stringify of it
 * would, anywhere it is later copied or echoed).
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

export type DecodedFrame = { ok: true; message: Message } | { ok: false; error: ResponseMessage };

function errorResponse(code: number, message: string, id: number | string | null = null): DecodedFrame {
  return { ok: false, error: { jsonrpc: '2.0', id, error: { code, message } } };
}

/** Parses one frame; on garbage returns the error response to send back (JSON-RPC -32700 / -32600). */
export function decodeFrame(text: string): DecodedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return errorResponse(-32700, `Parse error: the frame is not JSON (${(err as Error).message}).`);
  }
  if (Array.isArray(value)) return errorResponse(-32600, 'Invalid request: batches are not supported; send one message per frame.');
  if (typeof value !== 'object' || value === null) return errorResponse(-32600, 'Invalid request: a frame must hold one JSON-RPC 2.0 object.');
  const msg = value as Record<string, unknown>;
  const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
  if (nestsDeeperThan(text, MAX_NESTING_DEPTH)) {
    return errorResponse(-32602, `Invalid params: the message nests arrays or objects deeper than ${MAX_NESTING_DEPTH} levels; no request needs that many.`, id);
  }
  if (msg.jsonrpc !== '2.0') return errorResponse(-32600, 'Invalid request: "jsonrpc" must be "2.0".', id);
  const isRequestOrNotification = typeof msg.method === 'string';
  const isResponse = 'id' in msg && ('result' in msg || 'error' in msg);
  if (!isRequestOrNotification && !isResponse) {
    return errorResponse(-32600, 'Invalid request: a message needs a "method" (request/notification) or a "result"/"error" (response).', id);
  }
  if (isRequestOrNotification && 'id' in msg && msg.id !== null && id === null) {
    return errorResponse(-32600, 'Invalid request: "id" must be a number or a string.');
  }
  return { ok: true, message: value as Message };
}
