// vscode-jsonrpc over a `ws` WebSocket: one JSON-RPC message per text frame, used by both the daemon
// and its Node clients. Garbage frames are answered with a JSON-RPC error and never reach the
// connection, so a bad peer cannot crash or wedge either side.

import { AbstractMessageReader, AbstractMessageWriter, Disposable, type DataCallback, type Message } from 'vscode-jsonrpc/node';
import { createMessageConnection, type MessageConnection, type Logger } from 'vscode-jsonrpc/node';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame } from '../../core/protocol/frames.ts';

/** Reads frames from a socket and hands decoded messages to vscode-jsonrpc. */
export class WebSocketMessageReader extends AbstractMessageReader {
  constructor(private readonly socket: WebSocket) {
    super();
    socket.on('close', () => this.fireClose());
    socket.on('error', (err) => this.fireError(err));
  }

  listen(callback: DataCallback): Disposable {
    const onMessage = (data: WebSocket.RawData) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      const decoded = decodeFrame(text);
      if (decoded.ok) callback(decoded.message);
      else if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeFrame(decoded.error));
    };
    this.socket.on('message', onMessage);
    return Disposable.create(() => this.socket.off('message', onMessage));
  }
}

/** Writes each message as one text frame; writes to a closed socket are dropped (the peer is gone). */
export class WebSocketMessageWriter extends AbstractMessageWriter {
  private errorCount = 0;

  /**
   * `maxBufferedBytes`: a peer that stops reading while this side keeps writing (responses and
   * notifications alike) is closed once that much waits to be sent, instead of growing this process.
   */
  constructor(private readonly socket: WebSocket, private readonly maxBufferedBytes = Infinity) {
    super();
  }

  write(msg: Message): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.resolve();
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.socket.close(1008, 'client too slow to read its messages');
      // A close handshake the peer never reads must not hold the socket either.
      setTimeout(() => this.socket.terminate(), 5000).unref();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.socket.send(encodeFrame(msg), (err) => {
        if (err) this.fireError(err, msg, ++this.errorCount);
        resolve();
      });
    });
  }

  end(): void {}
}

/** Logs nothing: protocol noise from a misbehaving peer must not flood the daemon's output. */
const quietLogger: Logger = { error: () => {}, warn: () => {}, info: () => {}, log: () => {} };

/** A JSON-RPC connection over an open WebSocket (not yet listening; call `listen()`). */
export function connectionOverSocket(socket: WebSocket, logger: Logger = quietLogger, maxBufferedBytes = Infinity): MessageConnection {
  return createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket, maxBufferedBytes), logger);
}
