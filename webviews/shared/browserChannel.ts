// The frame channel in a plain browser: a WebSocket to the daemon that served the page. Browsers
// cannot set an Authorization header on a WebSocket, so the token travels as a subprotocol
// (`anneal.token.<token>`, next to `anneal.v1`, which the daemon selects); the daemon also checks
// that the Origin is its own. A dropped socket is reopened with backoff.

import { ListeningChannel, type ChannelStateEvent } from './channel.ts';

/** Mirrors daemon/server/auth.ts (the browser bundle must not import daemon code). */
const PROTOCOL = 'anneal.v1';
const TOKEN_PREFIX = 'anneal.token.';

/** Delay before reconnect attempt `n` (0-based): 0.5 s doubling to 8 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(8000, 500 * 2 ** attempt);
}

export class BrowserChannel extends ListeningChannel {
  private socket: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;

  /** `url`: ws://host:port/ of the daemon; `token`: its secret. */
  constructor(private readonly url: string, private readonly token: string) {
    super();
  }

  send(frame: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(frame);
  }

  start(): void {
    this.open();
  }

  /** Closes for good (e.g. before a new token is tried). */
  dispose(): void {
    this.stopped = true;
    this.socket?.close();
  }

  private setState(event: ChannelStateEvent): void {
    this.state = event.state;
    this.states.fire(event);
  }

  private open(): void {
    if (this.stopped) return;
    this.setState({ state: 'connecting' });
    let opened = false;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, [PROTOCOL, TOKEN_PREFIX + this.token]);
    } catch {
      // A token with characters a subprotocol cannot carry: it cannot be the daemon's (hex) token.
      this.setState({ state: 'closed', refused: true, reason: 'That is not a valid Anneal token; copy it from the output of "anneal dashboard" or from <stateDir>/token.' });
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.setState({ state: 'open' });
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.frames.fire(event.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = undefined;
      if (opened) {
        this.setState({ state: 'closed', reason: 'Lost the connection to the daemon; reconnecting…' });
        this.retry();
        return;
      }
      // The upgrade failed. If the daemon still serves pages, it refused our token (it writes a new
      // one each time it starts); otherwise it is down and we keep trying.
      void this.daemonAnswers().then((answers) => {
        if (this.stopped) return;
        if (answers) {
          this.setState({ state: 'closed', refused: true, reason: 'The daemon refused this token. Paste the current one: run "anneal dashboard", or read <stateDir>/token.' });
        } else {
          this.setState({ state: 'closed', reason: 'The daemon is not answering; reconnecting… (start it with "anneal daemon").' });
          this.retry();
        }
      });
    };
  }

  private retry(): void {
    const delay = reconnectDelayMs(this.attempt++);
    setTimeout(() => this.open(), delay);
  }

  private async daemonAnswers(): Promise<boolean> {
    try {
      const res = await fetch(new URL('/', this.url.replace(/^ws/, 'http')), { method: 'HEAD', cache: 'no-store' });
      return res.ok;
    } catch {
      return false;
    }
  }
}
