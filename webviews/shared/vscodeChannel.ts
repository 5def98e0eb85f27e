// The frame channel inside a VS Code webview: frames go to the extension host as `{type:'rpc'}`
// messages and come back the same way; the host reports its daemon socket with `relay/state`.

import type { HostToView, ViewToHost } from '../../core/protocol/webview.ts';
import { Listeners, ListeningChannel } from './channel.ts';

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

export class VsCodeChannel extends ListeningChannel {
  private readonly showRuns = new Listeners<string[]>();

  constructor(private readonly vscode: VsCodeApi) {
    super();
  }

  send(frame: string): void {
    if (this.state === 'open') this.vscode.postMessage({ type: 'rpc', frame });
  }
  override onShowRuns(listener: (runIds: string[]) => void): () => void {
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
