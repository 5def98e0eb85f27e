// A connection to a daemon: open the WebSocket with the token, run the `initialize` handshake, and
// expose the typed connection. Used by the CLI and the VS Code extension.

import WebSocket from 'ws';
import type { Disposable, MessageConnection, NotificationType } from 'vscode-jsonrpc/node';
import { Initialize, PROTOCOL_VERSION, type InitializeResult } from '../../core/protocol/daemon.ts';
import { ANNEAL_VERSION } from '../../core/version.ts';
import { connectionOverSocket } from './wsTransport.ts';

export interface DaemonClient {
  connection: MessageConnection;
  info: InitializeResult;
  /**
   * Adds a notification listener. Use this rather than `connection.onNotification`, which keeps only
   * one handler per method: several views (progress bar, dashboard, tests) can listen at once.
   */
  on<P>(type: NotificationType<P>, listener: (params: P) => void): Disposable;
  /** Resolves when the socket closes (daemon gone or `close()` called). */
  closed: Promise<void>;
  close(): void;
}

export interface ConnectOptions {
  clientName?: string;
  /** Milliseconds to wait for the socket to open. */
  timeoutMs?: number;
}

/** The error thrown when the daemon refuses the connection at the HTTP upgrade. */
export class DaemonRefusedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Opens a WebSocket to `url` presenting `token` (a Bearer header); rejects on refusal or timeout. */
export function openSocket(url: string, token: string, timeoutMs = 5000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, handshakeTimeout: timeoutMs });
    const fail = (err: Error) => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.terminate();
      reject(err);
    };
    socket.once('open', () => {
      socket.removeAllListeners('error');
      socket.removeAllListeners('unexpected-response');
      resolve(socket);
    });
    socket.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      const reason = status === 401 ? 'the token was refused (read it from <stateDir>/token)' : status === 403 ? 'the origin was refused' : `HTTP ${status}`;
      fail(new DaemonRefusedError(status, `The daemon at ${url} refused the connection: ${reason}.`));
    });
    socket.once('error', (err) => fail(err));
  });
}

/** Connects and initializes; the returned client is ready for requests. */
export async function connectDaemon(url: string, token: string, options: ConnectOptions = {}): Promise<DaemonClient> {
  const socket = await openSocket(url, token, options.timeoutMs);
  // A socket error after open (daemon killed) surfaces as a close; never as an uncaught exception.
  socket.on('error', () => {});
  const connection = connectionOverSocket(socket);
  // A daemon that vanishes (killed, crashed) never answers: fail every pending request instead of
  // leaving it unsettled, which would let a command end as if all went well.
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      connection.dispose();
      resolve();
    }),
  );
  const listeners = new Map<string, Set<(params: unknown) => void>>();
  const on = <P>(type: NotificationType<P>, listener: (params: P) => void): Disposable => {
    let set = listeners.get(type.method);
    if (!set) {
      const created = new Set<(params: unknown) => void>();
      listeners.set(type.method, (set = created));
      connection.onNotification(type, (params: P) => {
        for (const l of [...created]) l(params);
      });
    }
    const entry = listener as (params: unknown) => void;
    set.add(entry);
    return { dispose: () => void set.delete(entry) };
  };
  connection.listen();
  try {
    const info = await connection.sendRequest(Initialize.type, {
      protocolVersion: PROTOCOL_VERSION,
      clientName: options.clientName ?? 'anneal-cli',
      clientVersion: ANNEAL_VERSION,
    });
    return {
      connection,
      info,
      on,
      closed,
      close() {
        connection.dispose();
        socket.close();
      },
    };
  } catch (err) {
    connection.dispose();
    socket.terminate();
    throw err;
  }
}
