// One JSON-RPC message per WebSocket frame. Decoding checks the envelope before vscode-jsonrpc sees
// it, so a garbage frame gets a JSON-RPC error answer instead of being dropped silently.

import type { Message, ResponseMessage } from 'vscode-jsonrpc';

/** The text of the frame carrying `message`. */
export function encodeFrame(message: Message): string {
  return JSON.stringify(message);
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
