// The pair inspector panel: one per preference file. The host keeps the document's pair index
// (PairsSource) and answers the view's page requests, filters and edits. Edits go through a
// WorkspaceEdit on the open document, so they show in the editor and undo works; the view refreshes
// from the changed document (debounced), never from its own guess. A model's scores of the file
// (scoreStore) are put on the pairs whenever they change.
import * as vscode from 'vscode';
import { deleteLineRange, PairEditError, setSide, swapSides } from '../../../core/pairs/pairEdit.ts';
import type { PairEdit, PairFilter, PanelState, ViewToHost } from '../../../core/protocol/webview.ts';
import { checkSetupFor } from './datasetOptions.ts';
import { baseName, besideEditor, openDataset, revealLine } from './documentPanels.ts';
import { PanelHost } from './panelHost.ts';
import { PairsSource } from './pairsSource.ts';
import { SCORE_PAIRS_COMMAND } from '../codeLens.ts';
import { scoreStore, type ScoreEvent } from '../pairs/scoreStore.ts';

/** Quiet time after the last change before the index and the view refresh. */
const REFRESH_DELAY_MS = 200;
/** Least time between two progress messages. */
const PROGRESS_INTERVAL_MS = 100;

export class PairsPanel {
  private static readonly open = new Map<string, PairsPanel>();
  private source: PairsSource;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private lastProgress = 0;
  /** Set when VS Code closed the document (no editor showed it); edits reopen it. */
  private closed = false;
  private inflight: { source: PairsSource; promise: Promise<void> } | undefined;

  /** Opens (or brings to the front) the inspector for the preference file at `uri`. */
  static async show(context: vscode.ExtensionContext, uri: vscode.Uri): Promise<PairsPanel> {
    const existing = PairsPanel.open.get(uri.toString());
    if (existing && !existing.host.disposed) {
      existing.host.reveal();
      return existing;
    }
    const document = await openDataset(uri);
    const host = PanelHost.open(context, { kind: 'pairs', title: `Pairs: ${baseName(uri)}`, state: { kind: 'pairs', uri: uri.toString() }, column: besideEditor(document) });
    return new PairsPanel(host, document);
  }

  /** The file of the pair inspector that has the focus, if one has. */
  static focusedUri(): vscode.Uri | undefined {
    for (const panel of PairsPanel.open.values()) if (!panel.host.disposed && panel.host.panel.active) return panel.document.uri;
    return undefined;
  }

  /** Takes over a revived panel (see revivePairsPanel). */
  static adopt(host: PanelHost, document: vscode.TextDocument): PairsPanel {
    return new PairsPanel(host, document);
  }

  private constructor(
    private readonly host: PanelHost,
    private document: vscode.TextDocument,
  ) {
    PairsPanel.open.set(document.uri.toString(), this);
    this.source = this.newSource();
    host.track(
      host.onReady(() => void this.sendAll()),
      host.onMessage((message) => void this.receive(message)),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (!this.isOurs(event.document) || event.contentChanges.length === 0) return;
        if (!this.source.applyChanges(event.contentChanges, event.document.version, event.document.lineCount)) this.source = this.newSource(this.source.currentFilter);
        this.scheduleRefresh();
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration('anneal', this.document.uri)) return;
        this.source = this.newSource(this.source.currentFilter);
        this.scheduleRefresh();
      }),
      vscode.workspace.onDidCloseTextDocument((closed) => {
        // VS Code may drop a document no editor shows; the panel keeps its own mirror and reopens the document to edit.
        if (this.isOurs(closed)) this.closed = true;
      }),
      { dispose: () => this.disposeTimers() },
      scoreStore.listen((event) => this.onScores(event)),
    );
    host.onDidDispose(() => {
      if (PairsPanel.open.get(document.uri.toString()) === this) PairsPanel.open.delete(document.uri.toString());
    });
    void this.sendAll();
  }

  /** A fresh source with the current settings, keeping the view's filter. */
  private newSource(filter?: PairFilter): PairsSource {
    const setup = checkSetupFor(this.document.uri);
    if (setup.problem) void vscode.window.showWarningMessage(`Anneal: ${setup.problem}`);
    const source = new PairsSource(setup.options, setup.countSides, setup.tokenizer, filter);
    void source.setScores(scoreStore.get(this.document.uri.toString()));
    return source;
  }

  /** New scores for this file go onto the pairs; a scoring under way shows its progress in the header. */
  private async onScores(event: ScoreEvent): Promise<void> {
    if (event.uri !== this.document.uri.toString()) return;
    if (event.kind === 'progress') {
      this.host.post({ type: 'view/progress', label: event.label, done: event.done, total: event.total });
      return;
    }
    const source = this.source;
    if (event.kind === 'scores' && !(await source.setScores(scoreStore.get(event.uri), this.progress))) return;
    if (source === this.source && source.loaded && !source.isStale) this.host.post(source.resetMessage(baseName(this.document.uri)));
    else void this.sendAll();
  }

  private progress = (label: string, p: { done: number; total: number }): void => {
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    this.host.post({ type: 'view/progress', label, done: p.done, total: p.total });
  };

  /**
   * (Re)loads if needed and sends the reset; the view then asks for the pages it shows. Calls while
   * the same source is still loading share that load (the view's `ready` arrives during it).
   */
  private sendAll(): Promise<void> {
    const source = this.source;
    if (this.inflight && this.inflight.source === source && !source.isStale) return this.inflight.promise;
    const promise = this.load(source).finally(() => {
      if (this.inflight?.promise === promise) this.inflight = undefined;
    });
    this.inflight = { source, promise };
    return promise;
  }

  private async load(source: PairsSource): Promise<void> {
    if (!source.loaded) {
      const document = await this.liveDocument();
      if (!(await source.load(document.getText(), document.version, this.progress))) return;
    } else if (source.isStale) {
      if (!(await source.refresh(this.progress))) return;
    }
    if (source === this.source) this.host.post(source.resetMessage(baseName(this.document.uri)));
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.sendAll();
    }, REFRESH_DELAY_MS);
  }

  private disposeTimers(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private isOurs(document: vscode.TextDocument): boolean {
    return document.uri.toString() === this.document.uri.toString();
  }

  /** The document, reopened if VS Code closed it while no editor showed it. */
  private async liveDocument(): Promise<vscode.TextDocument> {
    if (this.closed || this.document.isClosed) {
      this.document = await vscode.workspace.openTextDocument(this.document.uri);
      this.closed = false;
    }
    return this.document;
  }

  private async receive(message: ViewToHost): Promise<void> {
    try {
      switch (message.type) {
        case 'pairs/requestPage':
          if (this.source.isStale) await this.sendAll();
          this.host.post(this.source.page(message.start, message.count));
          return;
        case 'pairs/setFilter':
          await this.setFilter(message.filter);
          return;
        case 'pairs/nextFlagged':
          this.host.post({ type: 'pairs/select', position: this.source.nextFlagged(message.from, message.direction) });
          return;
        case 'pairs/edit':
          await this.edit(message.line, message.edit, message.version);
          return;
        case 'reveal':
          await revealLine(await this.liveDocument(), message.line);
          return;
        case 'pairs/score':
          await vscode.commands.executeCommand(SCORE_PAIRS_COMMAND, this.document.uri);
          return;
        case 'pairs/clearScores':
          scoreStore.set(this.document.uri.toString(), undefined);
          return;
        default:
          return;
      }
    } catch (error) {
      void vscode.window.showErrorMessage(`Anneal: the pair inspector could not do that (${error instanceof Error ? error.message : String(error)}).`);
    }
  }

  private async setFilter(filter: PairFilter): Promise<void> {
    const source = this.source;
    if (!source.loaded) return; // the filter is applied when the load finishes
    if (!(await source.setFilter(filter, this.progress))) return;
    if (source === this.source) this.host.post(source.resetMessage(baseName(this.document.uri)));
  }

  /** Applies one edit to the record on `line` as a WorkspaceEdit. */
  private async edit(line: number, edit: PairEdit, version: number | undefined): Promise<void> {
    const document = await this.liveDocument();
    if ((version !== undefined && version !== document.version) || this.source.version !== document.version || !this.source.isPairLine(line)) {
      void vscode.window.showWarningMessage('Anneal: the file changed since the inspector showed this pair; the view has been refreshed, please try again.');
      await this.sendAll();
      return;
    }
    const text = document.lineAt(line).text;
    const workspaceEdit = new vscode.WorkspaceEdit();
    try {
      if (edit.kind === 'delete') {
        const r = deleteLineRange(line, document.lineCount, (l) => document.lineAt(l).text.length);
        workspaceEdit.delete(document.uri, new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character));
      } else {
        const next = edit.kind === 'swap' ? swapSides(text) : setSide(text, edit.side, edit.text);
        workspaceEdit.replace(document.uri, new vscode.Range(line, 0, line, text.length), next);
      }
    } catch (error) {
      if (error instanceof PairEditError) {
        void vscode.window.showWarningMessage(`Anneal: ${error.message}`);
        return;
      }
      throw error;
    }
    if (!(await vscode.workspace.applyEdit(workspaceEdit))) {
      void vscode.window.showWarningMessage('Anneal: VS Code refused the edit (is the file read-only?); nothing was changed.');
    }
  }
}

/** Revives an inspector after a window reload (register with the panel serializer for kind `pairs`). */
export async function revivePairsPanel(context: vscode.ExtensionContext, panel: vscode.WebviewPanel, state: PanelState | undefined): Promise<void> {
  if (!state?.uri) {
    panel.dispose();
    return;
  }
  const uri = vscode.Uri.parse(state.uri);
  let document: vscode.TextDocument;
  try {
    document = await vscode.workspace.openTextDocument(uri);
  } catch {
    panel.dispose();
    void vscode.window.showWarningMessage(`Anneal: ${baseName(uri)} no longer exists, so its pair inspector was closed.`);
    return;
  }
  const host = PanelHost.adopt(context, panel, { kind: 'pairs', title: `Pairs: ${baseName(uri)}`, state: { kind: 'pairs', uri: state.uri } });
  PairsPanel.adopt(host, document);
}
