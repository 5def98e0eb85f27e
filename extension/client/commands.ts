// Every command the extension contributes, registered at activation. Each one works or explains why
// it cannot (no active dataset, server not running) in one sentence with the way out.
import * as vscode from 'vscode';
import type { Ctx } from './ctx.ts';
import { describeSummary, SHOW_SUMMARY_COMMAND } from './summaryStatus.ts';

export const RESTART_SERVER_COMMAND = 'anneal.restartLanguageServer';

/** Registers the commands on the context's behalf. */
export function registerCommands(ctx: Ctx, context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(SHOW_SUMMARY_COMMAND, () => showSummary(ctx)),
    vscode.commands.registerCommand(RESTART_SERVER_COMMAND, () => restartServer(ctx)),
  );
}

async function showSummary(ctx: Ctx): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('Anneal: open a dataset (.jsonl) or a recipe (*.anneal.yaml) to see its summary.');
    return;
  }
  if (!ctx.serverRunning) {
    void vscode.window.showWarningMessage(
      'Anneal: the language server is not running, so there is no summary; run "Anneal: Restart Language Server" (details in the "Anneal Language Server" output).',
    );
    return;
  }
  let summary;
  try {
    summary = await ctx.summaryFor(editor.document.uri);
  } catch (error) {
    ctx.output.appendLine(`Summary request failed: ${String(error)}`);
  }
  if (!summary) {
    void vscode.window.showInformationMessage(
      `Anneal: ${vscode.workspace.asRelativePath(editor.document.uri)} is not a dataset or recipe Anneal checks (.jsonl, *.anneal.yaml, *.anneal.json).`,
    );
    return;
  }
  const lines = describeSummary(summary);
  void vscode.window.showInformationMessage(`Anneal: ${summary.text}`, { modal: false, detail: lines.join('\n') });
  ctx.output.appendLine(`Summary of ${editor.document.uri.toString()}:\n  ${lines.join('\n  ')}`);
}

async function restartServer(ctx: Ctx): Promise<void> {
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Anneal: restarting the language server' },
      () => ctx.restart(),
    );
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Anneal: the language server did not start (${String(error)}); see the "Anneal Language Server" output and run "npm run build" if dist/server.js is missing.`,
    );
  }
}
