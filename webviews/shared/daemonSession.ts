// The daemon's JSON-RPC protocol over a FrameChannel: one vscode-jsonrpc connection per time the
// channel opens, each starting with our own `initialize`. Notification listeners outlive reconnects,
// so a view registers them once and re-subscribes its runs in `onReady`.

import {
  AbstractMessageReader, AbstractMessageWriter, createMessageConnection, type DataCallback, type Disposable,
  type Message, type MessageConnection, type NotificationType, type RequestType,
} from 'vscode-jsonrpc/browser';
import { Initialize, PROTOCOL_VERSION, type InitializeResult } from '../../core/protocol/daemon.ts';
import { decodeFrame, encodeFrame } from '../../core/protocol/frames.ts';
import { ANNEAL_VERSION } from '../../core/version.ts';
import { Listeners, type ChannelStateEvent, type FrameChannel } from './channel.ts';

class ChannelReader extends AbstractMessageReader {
  constructor(private readonly channel: FrameChannel) {
    super();
  }
  listen(callback: DataCallback): Disposable {
    const off = this.channel.onFrame((frame) => {
      const decoded = decodeFrame(frame);
      // The daemon never sends garbage; if a relay did, dropping the frame is all a view can do.
      if (decoded.ok) callback(decoded.message);
    });
    return { dispose: off };
  }
  /** The channel dropped: vscode-jsonrpc rejects this connection's pending requests. */
  closed(): void {
    this.fireClose();
  }
}

class ChannelWriter extends AbstractMessageWriter {
  constructor(private readonly channel: FrameChannel) {
    super();
  }
  write(msg: Message): Promise<void> {
    this.channel.send(encodeFrame(msg));
    return Promise.resolve();
  }
  end(): void {}
}

/** What a view sees of the connection: connecting, ready (initialized), or closed with a reason. */
export type SessionState =
  | { state: 'connecting' }
  | { state: 'ready'; info: InitializeResult }
  | { state: 'closed'; reason: string; refused: boolean };

export class DaemonSession {
  private connection: MessageConnection | undefined;
  private reader: ChannelReader | undefined;
  private readonly notificationListeners = new Map<string, Set<(params: unknown) => void>>();
  private readonly states = new Listeners<SessionState>();
  current: SessionState = { state: 'connecting' };

  constructor(private readonly channel: FrameChannel, private readonly clientName = 'anneal-dashboard') {
    channel.onState((event) => this.channelChanged(event));
  }

  /** Starts the channel; `onState` reports `ready` after each successful `initialize`. */
  start(): void {
    this.channel.start();
  }

  onState(listener: (state: SessionState) => void): () => void {
    return this.states.add(listener);
  }

  /** Listens to a notification on every connection this session will have. */
  on<P>(type: NotificationType<P>, listener: (params: P) => void): () => void {
    let set = this.notificationListeners.get(type.method);
    if (!set) {
      set = new Set();
      this.notificationListeners.set(type.method, set);
      this.connection?.onNotification(type.method, (params: unknown) => this.dispatch(type.method, params));
    }
    const entry = listener as (params: unknown) => void;
    set.add(entry);
    return () => void set.delete(entry);
  }

  /** Sends a request on the current connection; rejects when there is none. */
  request<P, R, E>(type: RequestType<P, R, E>, params: P): Promise<R> {
    if (!this.connection || this.current.state !== 'ready') return Promise.reject(new Error('Not connected to the daemon.'));
    // vscode-jsonrpc's overloads cannot be picked for a generic P; the declaration types both ends.
    const send = this.connection.sendRequest.bind(this.connection) as (t: RequestType<P, R, E>, p: P) => Promise<R>;
    return send(type, params);
  }

  private dispatch(method: string, params: unknown): void {
    for (const l of [...(this.notificationListeners.get(method) ?? [])]) l(params);
  }

  private setState(state: SessionState): void {
    this.current = state;
    this.states.fire(state);
  }

  private channelChanged(event: ChannelStateEvent): void {
    if (event.state === 'open') {
      void this.connect();
      return;
    }
    this.dropConnection();
    if (event.state === 'closed') this.setState({ state: 'closed', reason: event.reason ?? 'Disconnected from the daemon.', refused: event.refused === true });
    else this.setState({ state: 'connecting' });
  }

  private dropConnection(): void {
    this.reader?.closed();
    this.connection?.dispose();
    this.connection = undefined;
    this.reader = undefined;
  }

  private async connect(): Promise<void> {
    this.dropConnection();
    const reader = new ChannelReader(this.channel);
    const connection = createMessageConnection(reader, new ChannelWriter(this.channel));
    this.reader = reader;
    this.connection = connection;
    for (const method of this.notificationListeners.keys()) {
      connection.onNotification(method, (params: unknown) => this.dispatch(method, params));
    }
    connection.listen();
    try {
      const info = await connection.sendRequest(Initialize.type, { protocolVersion: PROTOCOL_VERSION, clientName: this.clientName, clientVersion: ANNEAL_VERSION });
      if (this.connection === connection) this.setState({ state: 'ready', info });
    } catch (err) {
      if (this.connection !== connection) return;
      this.setState({ state: 'closed', reason: (err as Error).message, refused: false });
    }
  }
}
