// CodeLens at the top of a dataset ("Train SFT", "Inspect pairs" for preference data, "Report") and of
// a recipe ("Run", or "Run pipeline (sft → dpo)" for one with `stages:`). The kind is read from the
// document's text, so lenses appear before the server answers.
import * as vscode from 'vscode';
import { recipeLens } from './codeLensTitle.ts';
import type { DaemonConnection } from './daemon/daemonConnection.ts';
import { TRAIN_RECIPE_COMMAND, trainCommandId } from './train/trainCommands.ts';
import { isRecipePath } from './train/trainPlan.ts';

export const INSPECT_PAIRS_COMMAND = 'anneal.inspectPairs';
export const SHOW_REPORT_COMMAND = 'anneal.showDatasetReport';
export const SCORE_PAIRS_COMMAND = 'anneal.scorePairs';

/** True when the first records look like preference pairs (a `chosen` and a `rejected` key). */
export function looksLikePreference(document: vscode.TextDocument): boolean {
  const lines = Math.min(document.lineCount, 20);
  for (let i = 0; i < lines; i++) {
    const text = document.lineAt(i).text;
    if (text.trim() === '') continue;
    return text.includes('"chosen"') && text.includes('"rejected"');
  }
  return false;
}

export class AnnealCodeLens implements vscode.CodeLensProvider {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.emitter.event;

  constructor(private readonly connection: DaemonConnection) {
    // Which trainers exist is known once a daemon answers.
    connection.onDidConnect(() => this.emitter.fire());
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    const uri = document.uri;
    if (isRecipePath(uri.fsPath)) {
      const lens = recipeLens(document.getText());
      return [new vscode.CodeLens(top, { title: lens.title, tooltip: lens.tooltip, command: TRAIN_RECIPE_COMMAND, arguments: [uri] })];
    }
    const stages = this.connection.info?.capabilities.stages;
    const lenses: vscode.CodeLens[] = [];
    if (looksLikePreference(document)) {
      if (stages?.includes('dpo')) lenses.push(new vscode.CodeLens(top, { title: '$(play) Train DPO', command: trainCommandId('dpo'), arguments: [uri] }));
      lenses.push(new vscode.CodeLens(top, { title: '$(git-compare) Inspect pairs', tooltip: 'Open the pair inspector', command: INSPECT_PAIRS_COMMAND, arguments: [uri] }));
    } else {
      lenses.push(new vscode.CodeLens(top, { title: '$(play) Train SFT', tooltip: 'Fine-tune on this dataset (its recipe, if one sits beside it)', command: trainCommandId('sft'), arguments: [uri] }));
    }
    lenses.push(new vscode.CodeLens(top, { title: '$(graph) Report', tooltip: 'Open the dataset report', command: SHOW_REPORT_COMMAND, arguments: [uri] }));
    return lenses;
  }
}
