// The shared base of Anneal's webview panels (dashboard, samples, pair inspector, report): one HTML
// shell with a strict CSP, typed messages both ways, a `ready` handshake, disposal tracking, and the
// serializer that brings panels back after a window reload. Panel classes own a PanelHost; they do
// not touch `panel.webview` directly.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import type { HostToView, PanelState, ViewKind, ViewToHost } from '../../../core/protocol/webview.ts';
import { panelHtml } from './panelHtml.ts';

/** The webview view type of each panel kind (also used in `onWebviewPanel:<viewType>` activation). */
export const VIEW_TYPES: Readonly<Record<ViewKind, string>> = {
  dashboard: 'anneal.dashboard',
  samples: 'anneal.samples',
  pairs: 'anneal.pairs',
  report: 'anneal.report',
  compare: 'anneal.compare',
  pipelineReport: 'anneal.pipelineReport',
};

export interface PanelHostOptions {
  kind: ViewKind;
  title: string;
  /** Stored with the webview so the serializer can revive the panel (runs shown, document URI). */
  state: PanelState;
  column?: vscode.ViewColumn;
  preserveFocus?: boolean;
  /** Keep the view alive while hidden (live charts that would otherwise re-fetch everything). */
  retainContextWhenHidden?: boolean;
}

/** Webview options for every panel: scripts on, local files only from `dist/`. */
function webviewOptions(extensionUri: vscode.Uri, retain: boolean): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')],
    retainContextWhenHidden: retain,
  };
}

function isViewMessage(value: unknown): value is ViewToHost {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** One open Anneal panel. Messages posted before the view says `ready` are queued and sent in order. */
export class PanelHost implements vscode.Disposable {
  readonly kind: ViewKind;
  private currentState: PanelState;
  private ready = false;
  private isDisposed = false;
  private readonly queue: HostToView[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private readonly messageEmitter = new vscode.EventEmitter<ViewToHost>();
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  private readonly disposeEmitter = new vscode.EventEmitter<void>();

  /** Opens a new panel of this kind. */
  static open(context: vscode.ExtensionContext, options: PanelHostOptions): PanelHost {
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPES[options.kind],
      options.title,
      { viewColumn: options.column ?? vscode.ViewColumn.Active, preserveFocus: options.preserveFocus ?? false },
      webviewOptions(context.extensionUri, options.retainContextWhenHidden ?? false),
    );
    return new PanelHost(context, panel, options);
  }

  /** Takes over a panel VS Code revived after a reload (from a serializer). */
  static adopt(context: vscode.ExtensionContext, panel: vscode.WebviewPanel, options: PanelHostOptions): PanelHost {
    panel.webview.options = webviewOptions(context.extensionUri, options.retainContextWhenHidden ?? false);
    panel.title = options.title;
    return new PanelHost(context, panel, options);
  }

  private constructor(
    private readonly context: vscode.ExtensionContext,
    readonly panel: vscode.WebviewPanel,
    options: PanelHostOptions,
  ) {
    this.kind = options.kind;
    this.currentState = { ...options.state, kind: options.kind };
    const retain = options.retainContextWhenHidden ?? false;
    this.disposables.push(
      this.messageEmitter,
      this.readyEmitter,
      this.disposeEmitter,
      panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      panel.onDidChangeViewState(() => {
        // A hidden view without retained context is torn down; it says `ready` again when shown.
        if (!panel.visible && !retain) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    this.render();
  }

  /** The state stored for the serializer. */
  get state(): PanelState {
    return this.currentState;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /** True once the view's script has loaded and said `ready`. */
  get isReady(): boolean {
    return this.ready;
  }

  /** Sends a message to the view; queued until the view is ready. Dropped after disposal. */
  post(message: HostToView): void {
    if (this.isDisposed) return;
    if (!this.ready) {
      this.queue.push(message);
      return;
    }
    void this.panel.webview.postMessage(message);
  }

  /** Every message from the view except `ready` (see onReady). */
  onMessage(handler: (message: ViewToHost) => void): vscode.Disposable {
    return this.messageEmitter.event(handler);
  }

  /** Fires each time the view (re)loads its script: the place to (re)send what it needs. */
  onReady(handler: () => void): vscode.Disposable {
    return this.readyEmitter.event(handler);
  }

  onDidDispose(handler: () => void): vscode.Disposable {
    return this.disposeEmitter.event(handler);
  }

  /** Updates the stored state (e.g. other runs shown); the view keeps running. */
  setState(state: Omit<PanelState, 'kind'>): void {
    this.currentState = { ...state, kind: this.kind };
    this.post({ type: 'panel/state', state: this.currentState });
  }

  /** Brings the panel to the front. */
  reveal(column?: vscode.ViewColumn, preserveFocus = false): void {
    this.panel.reveal(column, preserveFocus);
  }

  /** Disposes these together with the panel. */
  track(...disposables: vscode.Disposable[]): void {
    if (this.isDisposed) {
      for (const d of disposables) d.dispose();
      return;
    }
    this.disposables.push(...disposables);
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    this.queue.length = 0;
    this.disposeEmitter.fire();
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private receive(raw: unknown): void {
    if (!isViewMessage(raw)) return;
    if (raw.type === 'ready') {
      this.ready = true;
      for (const message of this.queue.splice(0)) void this.panel.webview.postMessage(message);
      this.readyEmitter.fire();
      return;
    }
    this.messageEmitter.fire(raw);
  }

  private render(): void {
    const webview = this.panel.webview;
    const dist = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
    const local = (...parts: string[]): string | undefined => {
      const uri = vscode.Uri.joinPath(dist, ...parts);
      return existsSync(uri.fsPath) ? webview.asWebviewUri(uri).toString() : undefined;
    };
    this.ready = false;
    webview.html = panelHtml({
      kind: this.kind,
      title: this.panel.title,
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webviews', `${this.kind}.js`)).toString(),
      styleUri: local('webviews', `${this.kind}.css`),
      codiconUri: local('codicons', 'codicon.css'),
      state: this.currentState,
    });
  }
}

/**
 * Registers the serializer that revives panels of `kind` after a window reload. `revive` gets the
 * PanelState stored with the webview (undefined when the view never stored one) and should adopt the
 * panel with `PanelHost.adopt`. Needs `onWebviewPanel:<viewType>` in package.json activationEvents.
 */
export function registerPanelSerializer(
  kind: ViewKind,
  revive: (panel: vscode.WebviewPanel, state: PanelState | undefined) => void | Promise<void>,
): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(VIEW_TYPES[kind], {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, stored: unknown): Promise<void> {
      const state =
        typeof stored === 'object' && stored !== null && (stored as PanelState).kind === kind ? (stored as PanelState) : undefined;
      await revive(panel, state);
    },
  });
}
