// The host side of a dashboard or samples view: its own WebSocket to the daemon, with the view's
// JSON-RPC frames passed through unchanged both ways (`{type:'rpc', frame}`). The view runs its own
// `initialize` and subscriptions, exactly as it would in a browser; the token stays in the host.
// Each time the view (re)loads, it gets a fresh socket, so no old session's subscriptions leak in.
import type WebSocket from 'ws';
import * as vscode from 'vscode';
import { openSocket } from '../../../daemon/client/connect.ts';
import { backoffDelay } from '../daemon/backoff.ts';
import { describeConnectError, type DaemonConnection } from '../daemon/daemonConnection.ts';
import type { PanelHost } from './panelHost.ts';

type RelayState = 'connecting' | 'open' | 'closed';

export class RpcRelay implements vscode.Disposable {
  private socket: WebSocket | undefined;
  private state: RelayState = 'connecting';
  private reason: string | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private disposed = false;

  constructor(
    private readonly host: PanelHost,
    private readonly connection: DaemonConnection,
    private readonly log: vscode.LogOutputChannel,
  ) {
    host.track(
      this,
      host.onReady(() => this.reopen()),
      host.onMessage((message) => {
        if (message.type === 'rpc' && typeof message.frame === 'string' && this.state === 'open') this.socket?.send(message.frame);
      }),
      connection.onDidConnect(() => {
        // The daemon came (back): a relay waiting for it connects now instead of at its next backoff.
        if (this.state !== 'open' && this.host.isReady) this.reopen();
      }),
      connection.onDidChangeState(() => {
        if (this.state !== 'open' && connection.state !== 'connected') this.setState('closed', this.downReason());
      }),
    );
  }

  private downReason(): string {
    return this.connection.reason ?? 'The Anneal daemon is not running; train a dataset or run "Anneal: Start Daemon".';
  }

  private setState(state: RelayState, reason?: string): void {
    this.state = state;
    this.reason = reason;
    this.host.post({ type: 'relay/state', state, ...(reason ? { reason } : {}) });
  }

  /** Drops the current socket (if any) and opens a new one. */
  private reopen(): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const old = this.socket;
    this.socket = undefined;
    old?.removeAllListeners();
    old?.on('error', () => {});
    old?.close();
    void this.open(++this.generation);
  }

  private async open(generation: number): Promise<void> {
    const endpoint = this.connection.endpoint;
    if (!endpoint) {
      // Nothing to connect to yet: say why; onDidConnect brings us back.
      this.setState('closed', this.downReason());
      return;
    }
    this.setState('connecting');
    let socket: WebSocket;
    try {
      socket = await openSocket(endpoint.url, endpoint.token, 5000);
    } catch (error) {
      if (generation !== this.generation || this.disposed) return;
      const { reason, retry } = describeConnectError(error, endpoint.url, endpoint.remote);
      this.setState('closed', reason);
      if (retry) this.retry(generation);
      return;
    }
    if (generation !== this.generation || this.disposed) {
      socket.close();
      return;
    }
    this.socket = socket;
    this.attempt = 0;
    socket.on('error', () => {});
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.host.post({ type: 'rpc', frame: data.toString() });
    });
    socket.on('close', () => {
      if (this.socket !== socket || this.disposed) return;
      this.socket = undefined;
      this.setState('closed', 'Lost the connection to the daemon; reconnecting…');
      this.retry(generation);
    });
    this.setState('open');
  }

  private retry(generation: number): void {
    const delay = backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (generation === this.generation) void this.open(++this.generation);
    }, delay);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.removeAllListeners();
    this.socket?.on('error', () => {});
    this.socket?.close();
    this.socket = undefined;
    this.log.debug(`Relay for the ${this.host.kind} view closed (last state ${this.state}${this.reason ? `: ${this.reason}` : ''}).`);
  }
}
