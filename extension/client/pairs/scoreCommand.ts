// "Anneal: Score Pairs with a Model…" (also the pair inspector's toolbar button): pick a completed
// run (or a model folder), have the daemon score every pair of the file in its score child, show the
// progress (cancellable) in a notification and the inspector's header, and keep the scores for the
// inspector and the report. The daemon reads the file from disk, so unsaved changes are saved first.
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { scoredFile } from '../../../core/pairs/pairScores.ts';
import { DaemonErrorCodes, ScorePairs, ScorePairsProgressNotification } from '../../../core/protocol/daemon.ts';
import type { ScorePairsParams, ScorePairsResult } from '../../../core/protocol/scorePairs.ts';
import { SCORE_PAIRS_COMMAND } from '../codeLens.ts';
import { baseName } from '../panels/documentPanels.ts';
import { PairsPanel } from '../panels/pairsPanel.ts';
import type { Services } from '../services.ts';
import { isDatasetPath } from '../train/trainPlan.ts';
import { modelChoices, type ModelChoice } from './scoreChoices.ts';
import { scoreStore } from './scoreStore.ts';

/** JSON-RPC's "method not found": a daemon older than this extension. */
const METHOD_NOT_FOUND = -32601;

/** The preference file to score: the argument, the focused pair inspector's file, or the active editor's. */
function targetUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  const focused = PairsPanel.focusedUri();
  if (focused) return focused;
  const editor = vscode.window.activeTextEditor?.document.uri;
  return editor && isDatasetPath(editor.path) ? editor : undefined;
}

/** The folder the user picks for "Choose a folder…". */
async function pickFolder(): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Score with this model', title: 'Anneal: a reward model folder, or a PEFT adapter folder' });
  return picked?.[0]?.fsPath;
}

/** The JSON-RPC error code of a failed request, if it has one. */
function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

function errorSentence(error: unknown): string {
  if (codeOf(error) === METHOD_NOT_FOUND) {
    return 'the running daemon is older than this extension and cannot score pairs; run "Anneal: Stop Daemon", then score again to start the current one.';
  }
  return error instanceof Error ? error.message : String(error);
}

/** Files being scored now: a second request for one waits for the first rather than loading the model twice. */
const scoring = new Set<string>();

export function registerScorePairsCommand(services: Services): vscode.Disposable {
  return vscode.commands.registerCommand(SCORE_PAIRS_COMMAND, (arg?: unknown) => scorePairs(services, arg));
}

async function scorePairs(services: Services, arg: unknown): Promise<void> {
  const { connection, runs, context } = services;
  const uri = targetUri(arg);
  if (!uri) {
    void vscode.window.showInformationMessage('Anneal: open a preference file (.jsonl with prompt/chosen/rejected) first, then run "Anneal: Score Pairs with a Model…".');
    return;
  }
  if (uri.scheme !== 'file') {
    void vscode.window.showWarningMessage(`Anneal: ${baseName(uri)} is not a file on disk; the daemon scores files it can read, so save it to a folder first.`);
    return;
  }
  if (scoring.has(uri.toString())) {
    void vscode.window.showInformationMessage(`Anneal: the pairs of ${baseName(uri)} are being scored already; cancel that from its notification to start another.`);
    return;
  }
  const document = await vscode.workspace.openTextDocument(uri);
  if (document.isDirty) {
    const choice = await vscode.window.showWarningMessage(`${baseName(uri)} has unsaved changes.`, { modal: true, detail: 'The model scores the file on disk; save it so the scores match what you see.' }, 'Save and Score');
    if (choice !== 'Save and Score' || !(await document.save())) return;
  }
  let client;
  try {
    client = await connection.ensure(!connection.remote);
  } catch (error) {
    void vscode.window.showErrorMessage(`Anneal: cannot score pairs without the daemon: ${errorSentence(error)}`);
    return;
  }
  if (!runs.isLoaded) await runs.refresh();
  const choices = modelChoices(runs.runs, uri.fsPath, new Date());
  const picked = await vscode.window.showQuickPick<ModelChoice & vscode.QuickPickItem>(choices, {
    title: `Anneal: score the pairs of ${baseName(uri)} with…`,
    placeHolder: choices.length > 1 ? 'A completed run (a reward model, or a DPO/SFT adapter against its base), or a model folder' : 'No completed run can score pairs yet: train a reward model or a LoRA DPO/SFT run, or choose a folder',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!picked) return;
  const model = picked.target.kind === 'run' ? picked.target.run.id : await pickFolder();
  if (!model) return;
  const what = picked.target.kind === 'run' ? picked.target.run.id : baseName(vscode.Uri.file(model));

  // The inspector shows the progress and then the scores. The snapshot of the file as the daemon reads
  // it ties each scored line to its text (the lines as VS Code splits them).
  await PairsPanel.show(context, uri);
  const snapshot = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)).split(/\r\n|\r|\n/);
  const key = uri.toString();
  const progressToken = randomUUID();
  const label = `Scoring pairs with ${what}`;
  let result: ScorePairsResult | undefined;
  scoring.add(key);
  try {
    result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Anneal: ${label}`, cancellable: true }, async (progress, token) => {
      let reported = 0;
      const listener = client.on(ScorePairsProgressNotification.type, (p) => {
        if (p.token !== progressToken) return;
        const percent = (100 * p.done) / Math.max(1, p.total);
        progress.report({ message: `${p.done.toLocaleString('en-US')} of ${p.total.toLocaleString('en-US')} pairs`, increment: percent - reported });
        reported = percent;
        scoreStore.emit({ kind: 'progress', uri: key, label, done: p.done, total: p.total });
      });
      scoreStore.emit({ kind: 'progress', uri: key, label: `${label}: loading the model`, done: 0, total: 1 });
      try {
        const params: ScorePairsParams = { data: uri.fsPath, model, progressToken };
        return await client.connection.sendRequest(ScorePairs.type, params, token);
      } finally {
        listener.dispose();
      }
    });
  } catch (error) {
    scoreStore.emit({ kind: 'ended', uri: key });
    if (codeOf(error) === DaemonErrorCodes.RequestCancelled) return;
    void vscode.window.showErrorMessage(`Anneal: could not score the pairs of ${baseName(uri)}: ${errorSentence(error)}`);
    return;
  } finally {
    scoring.delete(key);
  }
  scoreStore.set(key, scoredFile(result, (line) => snapshot[line]));
}
