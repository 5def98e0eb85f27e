// The frame channel a view talks to the daemon through. Two implementations: inside VS Code the
// extension host relays frames over postMessage (the token never enters the webview); in a browser
// the page opens the daemon's WebSocket itself. Everything above this interface is the same code.

/** `open`: frames flow; `connecting`: being (re)established; `closed`: down, with a reason to show. */
export type ChannelState = 'connecting' | 'open' | 'closed';

export interface ChannelStateEvent {
  state: ChannelState;
  /** Why it is closed and what to do, in one sentence. */
  reason?: string;
  /** The daemon refused our credentials: retrying with the same token cannot help. */
  refused?: boolean;
}

/** A bidirectional stream of JSON-RPC frames whose connection may drop and come back. */
export interface FrameChannel {
  /** Sends one frame; dropped while the channel is not open (requests then fail on close). */
  send(frame: string): void;
  onFrame(listener: (frame: string) => void): () => void;
  onState(listener: (event: ChannelStateEvent) => void): () => void;
  /** The host asked the view to show these runs (VS Code only; a browser page picks its own). */
  onShowRuns(listener: (runIds: string[]) => void): () => void;
  /** Starts connecting; state events follow. */
  start(): void;
  readonly state: ChannelState;
}

/** What every FrameChannel shares: the frame and state listeners (subclasses fire them) and the state. */
export abstract class ListeningChannel implements FrameChannel {
  protected readonly frames = new Listeners<string>();
  protected readonly states = new Listeners<ChannelStateEvent>();
  state: ChannelState = 'connecting';

  abstract send(frame: string): void;
  abstract start(): void;

  onFrame(listener: (frame: string) => void): () => void {
    return this.frames.add(listener);
  }
  onState(listener: (event: ChannelStateEvent) => void): () => void {
    return this.states.add(listener);
  }
  /** Only a VS Code host asks a view to show runs; elsewhere this never fires. */
  onShowRuns(_listener: (runIds: string[]) => void): () => void {
    return () => {};
  }
}

/** A tiny listener set, so channels need no event library. */
export class Listeners<T> {
  private readonly set = new Set<(value: T) => void>();
  add(listener: (value: T) => void): () => void {
    this.set.add(listener);
    return () => void this.set.delete(listener);
  }
  fire(value: T): void {
    for (const l of [...this.set]) l(value);
  }
}
