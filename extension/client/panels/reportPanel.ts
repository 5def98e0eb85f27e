// The dataset report panel: the language server's per-file summary as a page. The host checks the
// document's text with core/datasets (the code the server runs) in chunks, builds the page data,
// and refreshes after edits (debounced). Clicking a line on the page reveals it in the editor. When a
// model scored the file's pairs (scoreStore), the page also shows how their margins are distributed.
import * as vscode from 'vscode';
import type { DatasetModel } from '../../../core/datasets/model.ts';
import { checkSteps } from '../../../core/report/checkSteps.ts';
import { reportData } from '../../../core/report/reportData.ts';
import type { PanelState, ViewToHost } from '../../../core/protocol/webview.ts';
import { checkSetupFor } from './datasetOptions.ts';
import { baseName, besideEditor, openDataset, revealLine } from './documentPanels.ts';
import { PanelHost } from './panelHost.ts';
import { TextLines } from '../../server/textLines.ts';
import { yieldToEventLoop } from './yield.ts';
import { scoreStore } from '../pairs/scoreStore.ts';
import { reportMargins } from './reportMargins.ts';

/** Quiet time after the last edit before the report is recomputed. */
const REFRESH_DELAY_MS = 400;
const PROGRESS_INTERVAL_MS = 100;

/** Checks the whole text in chunks; undefined when `cancelled()` turned true meanwhile. */
export async function checkDocumentText(text: string, options: Parameters<typeof checkSteps>[1], onProgress: (done: number, total: number) => void, cancelled: () => boolean): Promise<DatasetModel | undefined> {
  const mirror = new TextLines(text);
  const lines: string[] = [];
  for (let i = 0; i < mirror.lineCount; i++) lines.push(mirror.line(i));
  const steps = checkSteps(lines, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    onProgress(step.value.done, step.value.total);
    await yieldToEventLoop();
    if (cancelled()) return undefined;
  }
}

export class ReportPanel {
  private static readonly open = new Map<string, ReportPanel>();
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastProgress = 0;

  /** Opens (or brings to the front) the report for the dataset at `uri`. */
  static async show(context: vscode.ExtensionContext, uri: vscode.Uri): Promise<ReportPanel> {
    const existing = ReportPanel.open.get(uri.toString());
    if (existing && !existing.host.disposed) {
      existing.host.reveal();
      return existing;
    }
    const document = await openDataset(uri);
    const host = PanelHost.open(context, { kind: 'report', title: `Report: ${baseName(uri)}`, state: { kind: 'report', uri: uri.toString() }, column: besideEditor(document) });
    return new ReportPanel(host, document.uri);
  }

  /** Takes over a revived panel (see reviveReportPanel). */
  static adopt(host: PanelHost, uri: vscode.Uri): ReportPanel {
    return new ReportPanel(host, uri);
  }

  private constructor(
    private readonly host: PanelHost,
    private readonly uri: vscode.Uri,
  ) {
    ReportPanel.open.set(uri.toString(), this);
    host.track(
      host.onReady(() => void this.compute()),
      host.onMessage((message) => void this.receive(message)),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document.uri.toString() === uri.toString() && event.contentChanges.length > 0) this.schedule();
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('anneal', uri)) this.schedule();
      }),
      { dispose: () => this.timer && clearTimeout(this.timer) },
      scoreStore.listen((event) => {
        if (event.kind === 'scores' && event.uri === uri.toString()) this.schedule();
      }),
    );
    host.onDidDispose(() => {
      this.generation++;
      if (ReportPanel.open.get(uri.toString()) === this) ReportPanel.open.delete(uri.toString());
    });
    void this.compute();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.compute();
    }, REFRESH_DELAY_MS);
  }

  /** Checks the current text and posts `report/data`; a newer computation cancels this one. */
  private async compute(): Promise<void> {
    const generation = ++this.generation;
    try {
      const document = await vscode.workspace.openTextDocument(this.uri);
      const setup = checkSetupFor(this.uri);
      if (setup.problem) void vscode.window.showWarningMessage(`Anneal: ${setup.problem}`);
      const model = await checkDocumentText(document.getText(), setup.options, (done, total) => this.progress(done, total), () => generation !== this.generation);
      if (!model || generation !== this.generation) return;
      const data = reportData(baseName(this.uri), model.report(), { tokenizer: setup.tokenizer });
      const scores = scoreStore.get(this.uri.toString());
      if (scores) data.margins = reportMargins(document.getText(), data.summary.formats, scores);
      this.host.post(data);
    } catch (error) {
      void vscode.window.showErrorMessage(`Anneal: the dataset report failed (${error instanceof Error ? error.message : String(error)}); see the "Anneal Language Server" output.`);
    }
  }

  private progress(done: number, total: number): void {
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    this.host.post({ type: 'view/progress', label: 'Checking', done, total });
  }

  private async receive(message: ViewToHost): Promise<void> {
    if (message.type !== 'reveal') return;
    try {
      await revealLine(await vscode.workspace.openTextDocument(this.uri), message.line);
    } catch (error) {
      void vscode.window.showErrorMessage(`Anneal: could not show line ${message.line + 1} (${error instanceof Error ? error.message : String(error)}).`);
    }
  }
}

/** Revives a report after a window reload (register with the panel serializer for kind `report`). */
export async function reviveReportPanel(context: vscode.ExtensionContext, panel: vscode.WebviewPanel, state: PanelState | undefined): Promise<void> {
  if (!state?.uri) {
    panel.dispose();
    return;
  }
  const uri = vscode.Uri.parse(state.uri);
  const host = PanelHost.adopt(context, panel, { kind: 'report', title: `Report: ${baseName(uri)}`, state: { kind: 'report', uri: state.uri } });
  ReportPanel.adopt(host, uri);
}
