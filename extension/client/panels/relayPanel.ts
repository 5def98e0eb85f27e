// A panel whose view speaks the daemon protocol through an RpcRelay: the dashboard and the samples
// viewer. One of each kind is open at a time; showing other runs re-targets it.
import * as vscode from 'vscode';
import type { PanelState } from '../../../core/protocol/webview.ts';
import type { DaemonConnection } from '../daemon/daemonConnection.ts';
import { PanelHost } from './panelHost.ts';
import { RpcRelay } from './rpcRelay.ts';

export type RelayKind = 'dashboard' | 'samples';

export interface RelayPanelDeps {
  context: vscode.ExtensionContext;
  connection: DaemonConnection;
  log: vscode.LogOutputChannel;
}

const TITLES: Record<RelayKind, string> = { dashboard: 'Anneal Dashboard', samples: 'Anneal Samples' };

export class RelayPanel {
  private static readonly open = new Map<RelayKind, RelayPanel>();
  private runIds: string[];

  /** Shows the panel of `kind` for these runs (the first is the main one), opening it if needed. */
  static show(kind: RelayKind, deps: RelayPanelDeps, runIds: string[], column?: vscode.ViewColumn): RelayPanel {
    const existing = RelayPanel.open.get(kind);
    if (existing && !existing.host.disposed) {
      existing.setRuns(runIds);
      existing.host.reveal(column);
      return existing;
    }
    const host = PanelHost.open(deps.context, {
      kind,
      title: TITLES[kind],
      state: { kind, runIds },
      column,
      retainContextWhenHidden: true,
    });
    return new RelayPanel(kind, host, deps, runIds);
  }

  /** Brings back a panel after a window reload. */
  static revive(kind: RelayKind, deps: RelayPanelDeps, panel: vscode.WebviewPanel, state: PanelState | undefined): RelayPanel {
    const runIds = state?.runIds?.filter((id) => typeof id === 'string') ?? [];
    const host = PanelHost.adopt(deps.context, panel, { kind, title: TITLES[kind], state: { kind, runIds }, retainContextWhenHidden: true });
    return new RelayPanel(kind, host, deps, runIds);
  }

  /** The open panel of `kind`, if any. */
  static get(kind: RelayKind): RelayPanel | undefined {
    const p = RelayPanel.open.get(kind);
    return p && !p.host.disposed ? p : undefined;
  }

  private constructor(
    readonly kind: RelayKind,
    readonly host: PanelHost,
    deps: RelayPanelDeps,
    runIds: string[],
  ) {
    this.runIds = runIds;
    RelayPanel.open.get(kind)?.host.dispose();
    RelayPanel.open.set(kind, this);
    new RpcRelay(host, deps.connection, deps.log);
    host.track(
      host.onReady(() => host.post({ type: 'view/showRuns', runIds: this.runIds })),
      host.onDidDispose(() => {
        if (RelayPanel.open.get(kind) === this) RelayPanel.open.delete(kind);
      }),
    );
  }

  /** The runs shown. */
  get shownRuns(): readonly string[] {
    return this.runIds;
  }

  setRuns(runIds: string[]): void {
    this.runIds = runIds;
    this.host.setState({ runIds });
    this.host.post({ type: 'view/showRuns', runIds });
  }
}
