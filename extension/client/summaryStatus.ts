// Shows the active file's summary ("1,204 records · 3 errors · SFT messages") in the status bar and
// in the language status hover, and says when the server is not running.
import * as vscode from 'vscode';
import type { FileSummary } from '../../core/protocol/lsp.ts';

export const SHOW_SUMMARY_COMMAND = 'anneal.showDatasetSummary';

export class SummaryStatus implements vscode.Disposable {
  private readonly bar: vscode.StatusBarItem;
  private readonly language: vscode.LanguageStatusItem;
  private serverState: 'starting' | 'running' | 'stopped' = 'starting';

  constructor(selector: vscode.DocumentSelector) {
    this.bar = vscode.window.createStatusBarItem('anneal.summary', vscode.StatusBarAlignment.Left, 10);
    this.bar.name = 'Anneal dataset summary';
    this.bar.command = SHOW_SUMMARY_COMMAND;
    this.language = vscode.languages.createLanguageStatusItem('anneal.summary', selector);
    this.language.name = 'Anneal';
    this.language.command = { title: 'Show summary', command: SHOW_SUMMARY_COMMAND };
    this.language.text = 'Anneal: starting';
  }

  setServerState(state: 'starting' | 'running' | 'stopped'): void {
    this.serverState = state;
    if (state !== 'running') {
      this.language.text = state === 'starting' ? 'Anneal: starting' : 'Anneal: language server stopped';
      this.language.severity = state === 'stopped' ? vscode.LanguageStatusSeverity.Error : vscode.LanguageStatusSeverity.Information;
    }
  }

  /** Shows a summary, or hides the status bar item when the active file has none. */
  show(summary: FileSummary | undefined): void {
    if (!summary) {
      this.bar.hide();
      if (this.serverState === 'running') {
        this.language.text = 'Anneal';
        this.language.detail = 'checking…';
        this.language.severity = vscode.LanguageStatusSeverity.Information;
      }
      return;
    }
    const icon = summary.errors > 0 ? '$(error)' : summary.warnings > 0 ? '$(warning)' : '$(check)';
    this.bar.text = `${icon} ${summary.text}`;
    this.bar.tooltip = tooltip(summary);
    this.bar.show();
    this.language.text = summary.text;
    this.language.detail = summary.truncated ? `only the first ${summary.maxDiagnostics} problems are listed` : undefined;
    this.language.severity =
      summary.errors > 0
        ? vscode.LanguageStatusSeverity.Error
        : summary.warnings > 0
          ? vscode.LanguageStatusSeverity.Warning
          : vscode.LanguageStatusSeverity.Information;
  }

  dispose(): void {
    this.bar.dispose();
    this.language.dispose();
  }
}

/** Multi-line description of a summary, for the tooltip and the summary command. */
export function describeSummary(summary: FileSummary): string[] {
  const lines: string[] = [];
  if (summary.fileKind === 'dataset') {
    lines.push(`${summary.records.toLocaleString('en-US')} records`);
    const formats = Object.entries(summary.formats).map(([f, n]) => `${f}: ${(n ?? 0).toLocaleString('en-US')}`);
    if (formats.length > 0) lines.push(`Formats: ${formats.join(', ')}`);
    if (summary.datasetKind) lines.push(`Kind: ${summary.datasetKind}${summary.style ? ` (${summary.style})` : ''}`);
    if (summary.tokens) {
      const t = summary.tokens;
      lines.push(`Tokens (${t.tokenizer}): p50 ${t.p50}, p90 ${t.p90}, p99 ${t.p99}, max ${t.max}`);
    }
  } else {
    lines.push('Recipe');
  }
  lines.push(`${summary.errors} errors, ${summary.warnings} warnings, ${summary.infos} infos`);
  if (summary.truncated) {
    lines.push(`Only the first ${summary.maxDiagnostics} problems are listed; raise anneal.diagnostics.maxPerFile to see more.`);
  }
  return lines;
}

function tooltip(summary: FileSummary): vscode.MarkdownString {
  const md = new vscode.MarkdownString(describeSummary(summary).join('  \n'));
  md.appendMarkdown('\n\nClick for the full summary.');
  return md;
}
