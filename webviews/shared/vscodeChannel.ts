// The frame channel inside a VS Code webview: frames go to the extension host as `{type:'rpc'}`
// messages and come back the same way; the host reports its daemon socket with `relay/state`.

import type { HostToView, ViewToHost } from '../../core/protocol/webview.ts';
import { Listeners, type ChannelState, type ChannelStateEvent, type FrameChannel } from './channel.ts';

/** The part of VS Code's webview API we use (`acquireVsCodeApi()` may be called only once). */
export interface VsCodeApi {
  postMessage(message: ViewToHost): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare global {
  // Injected by VS Code into webviews; absent in a browser.
  function acquireVsCodeApi(): VsCodeApi;
}

/** The VS Code API when running in a webview, else undefined. Cached: VS Code allows one call. */
let api: VsCodeApi | undefined;
export function vscodeApi(): VsCodeApi | undefined {
  if (api) return api;
  if (typeof acquireVsCodeApi !== 'function') return undefined;
  return (api = acquireVsCodeApi());
}

export class VsCodeChannel implements FrameChannel {
  private readonly frames = new Listeners<string>();
  private readonly states = new Listeners<ChannelStateEvent>();
  private readonly showRuns = new Listeners<string[]>();
  state: ChannelState = 'connecting';

  constructor(private readonly vscode: VsCodeApi) {}

  send(frame: string): void {
    if (this.state === 'open') this.vscode.postMessage({ type: 'rpc', frame });
  }
  onFrame(listener: (frame: string) => void) {
    return this.frames.add(listener);
  }
  onState(listener: (event: ChannelStateEvent) => void) {
    return this.states.add(listener);
  }
  onShowRuns(listener: (runIds: string[]) => void) {
    return this.showRuns.add(listener);
  }

  start(): void {
    window.addEventListener('message', (event: MessageEvent) => this.receive(event.data as HostToView));
    // The host waits for `ready` before relaying, so no frame is posted before our listener exists.
    this.vscode.postMessage({ type: 'ready' });
    this.states.fire({ state: this.state });
  }

  private receive(message: HostToView): void {
    if (typeof message !== 'object' || message === null) return;
    switch (message.type) {
      case 'rpc':
        if (typeof message.frame === 'string') this.frames.fire(message.frame);
        break;
      case 'relay/state':
        this.state = message.state;
        this.states.fire({ state: message.state, reason: message.reason });
        break;
      case 'view/showRuns':
        if (Array.isArray(message.runIds)) this.showRuns.fire(message.runIds.filter((id) => typeof id === 'string'));
        break;
    }
  }
}
