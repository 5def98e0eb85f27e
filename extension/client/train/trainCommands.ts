// Train commands: "Train SFT" (one per stage the daemon offers) on the active dataset or recipe,
// "Train from Recipe", and the model choice for recipe-less runs. Data with errors is refused before
// anything starts, with a way to the Problems panel; long work shows progress and can be cancelled.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { DaemonErrorCodes, StartRun, type InvalidInputData, type StartRunParams } from '../../../core/protocol/daemon.ts';
import type { Stage } from '../../../core/recipe/types.ts';
import { readConfig } from '../config.ts';
import { DashboardPanel } from '../panels/dashboardPanel.ts';
import type { Services } from '../services.ts';
import { toVsDiagnostic } from './problems.ts';
import { isDatasetPath, isRecipePath, recipeFacts, recipeForDataset } from './trainPlan.ts';
import { trustedToRun } from './trust.ts';

export const STAGE_TITLES: Record<Stage, string> = {
  sft: 'SFT',
  dpo: 'DPO',
  kto: 'KTO',
  orpo: 'ORPO',
  cpo: 'CPO',
  simpo: 'SimPO',
  reward: 'Reward Model',
  grpo: 'GRPO',
  ppo: 'PPO',
  cpt: 'Continued Pre-training',
};
export const STAGES = Object.keys(STAGE_TITLES) as Stage[];
export const trainCommandId = (stage: Stage) => `anneal.train.${stage}`;
export const TRAIN_RECIPE_COMMAND = 'anneal.trainFromRecipe';
export const CHOOSE_MODEL_COMMAND = 'anneal.train.chooseModel';
const SHOW_PROBLEMS = 'Show Problems';
/** workspaceState key of the model recipe-less runs use: "tiny" or an absolute folder. */
const MODEL_KEY = 'anneal.train.model';

/** The URI a command acts on: its argument (CodeLens, explorer) or the active editor's document. */
function targetUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  return vscode.window.activeTextEditor?.document.uri;
}

function openDocument(uri: vscode.Uri): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
}

/** Asks for the model of recipe-less runs and remembers it for this workspace. */
export async function chooseModel(services: Services): Promise<string | undefined> {
  const state = services.context.workspaceState;
  const last = state.get<string>(MODEL_KEY);
  type Item = vscode.QuickPickItem & { model?: string };
  const items: Item[] = [
    { label: '$(beaker) Built-in tiny model', description: 'tiny', detail: 'A small Llama trained from scratch: fast on any CPU, for trying things out.', model: 'tiny' },
  ];
  if (last && last !== 'tiny') items.push({ label: `$(folder) ${basename(last)}`, description: last, model: last });
  items.push({ label: '$(folder-opened) Choose a model folder…', detail: 'A Hugging Face model folder (config.json, safetensors, tokenizer.json).' });
  const picked = await vscode.window.showQuickPick(items, { title: 'Anneal: which model to train?', placeHolder: 'Model for runs without a recipe (remembered for this workspace)' });
  if (!picked) return undefined;
  let model = picked.model;
  if (!model) {
    const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Train this model' });
    if (!folders?.[0]) return undefined;
    model = folders[0].fsPath;
  }
  await state.update(MODEL_KEY, model);
  return model;
}

/** Refuses data the language server found errors in; true when training may go on. */
async function checkNoErrors(uri: vscode.Uri): Promise<boolean> {
  const errors = vscode.languages
    .getDiagnostics(uri)
    .filter((d) => d.severity === vscode.DiagnosticSeverity.Error && d.source === 'anneal');
  if (errors.length === 0) return true;
  const first = errors[0]!;
  const choice = await vscode.window.showErrorMessage(
    `Anneal: ${basename(uri.fsPath)} has ${errors.length} error${errors.length === 1 ? '' : 's'} (first on line ${first.range.start.line + 1}: ${first.message}); fix them before training.`,
    SHOW_PROBLEMS,
  );
  if (choice === SHOW_PROBLEMS) await vscode.commands.executeCommand('workbench.actions.view.problems');
  return false;
}

/** The daemon trains what is on disk: unsaved changes are saved first, if the user agrees. */
async function ensureSaved(uri: vscode.Uri): Promise<boolean> {
  const doc = openDocument(uri);
  if (!doc?.isDirty) return true;
  const save = 'Save and Train';
  const choice = await vscode.window.showWarningMessage(`Anneal: ${basename(uri.fsPath)} has unsaved changes; the daemon trains the file on disk.`, save);
  return choice === save ? doc.save() : false;
}

/** Recipes in the dataset's folder (texts from open editors when open). */
function siblingRecipes(datasetPath: string): { path: string; text: string }[] {
  const dir = dirname(datasetPath);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter(isRecipePath)
    .map((name) => join(dir, name))
    .flatMap((path) => {
      const open = openDocument(vscode.Uri.file(path));
      try {
        return [{ path, text: open ? open.getText() : readFileSync(path, 'utf8') }];
      } catch {
        return [];
      }
    });
}

/** Connects (starting the local daemon when allowed or confirmed); undefined after saying why not. */
async function daemonFor(services: Services, stage: Stage) {
  const { connection } = services;
  let start = !connection.remote && readConfig().daemonAutoStart;
  if (!connection.client && !connection.remote && !start) {
    const choice = await vscode.window.showInformationMessage('Anneal: the training daemon is not running. Start it?', 'Start Daemon');
    if (choice !== 'Start Daemon') return undefined;
    start = true;
  }
  const client = await connection.ensure(start);
  if (!client.info.capabilities.stages.includes(stage)) {
    void vscode.window.showWarningMessage(
      `Anneal: this daemon (Anneal ${client.info.daemonVersion}) cannot train ${STAGE_TITLES[stage]} yet; it trains ${client.info.capabilities.stages.map((s) => STAGE_TITLES[s]).join(', ')}.`,
    );
    return undefined;
  }
  return client;
}

/** Sends runs/start under a progress notification and opens the dashboard on the new run. */
async function startRun(services: Services, params: StartRunParams, what: string): Promise<void> {
  const { runs, log, trainingProblems } = services;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Anneal: starting ${what}`, cancellable: true },
    async (progress, token) => {
      progress.report({ message: 'connecting to the daemon…' });
      let client;
      try {
        client = await daemonFor(services, params.stage);
      } catch (error) {
        const choice = await vscode.window.showErrorMessage(`Anneal: ${error instanceof Error ? error.message : String(error)}`, 'Show Daemon Log');
        if (choice) await vscode.commands.executeCommand('anneal.showDaemonLog');
        return;
      }
      if (!client || token.isCancellationRequested) return;
      progress.report({ message: 'checking the data and recipe…' });
      // The daemon uses it only for TRL runs whose recipe names no `python:`.
      const python = pythonSetting();
      try {
        const { run } = await client.connection.sendRequest(StartRun.type, python ? { ...params, python } : params, token);
        trainingProblems.clear();
        log.info(`Started run ${run.id}: ${what}.`);
        runs.upsert(run);
        void runs.watch(run.id);
        DashboardPanel.show({ context: services.context, connection: services.connection, log }, [run.id], vscode.ViewColumn.Beside);
      } catch (error) {
        if (token.isCancellationRequested) return;
        await reportStartError(services, error);
      }
    },
  );
}

/** Explains a refused runs/start; data problems go to the Problems panel. */
async function reportStartError(services: Services, error: unknown): Promise<void> {
  const e = error as { code?: number; message?: string; data?: unknown };
  services.log.warn(`runs/start failed: ${e.message ?? String(error)}`);
  if (e.code === DaemonErrorCodes.InvalidInput) {
    const data = e.data as InvalidInputData | undefined;
    services.trainingProblems.clear();
    for (const file of data?.files ?? []) {
      if (!file.file.startsWith('/') && !/^[a-zA-Z]:[\\/]/.test(file.file)) continue;
      services.trainingProblems.set(vscode.Uri.file(file.file), file.diagnostics.map(toVsDiagnostic));
    }
    const choice = await vscode.window.showErrorMessage(`Anneal: ${e.message ?? 'the data has errors.'}`, SHOW_PROBLEMS);
    if (choice === SHOW_PROBLEMS) await vscode.commands.executeCommand('workbench.actions.view.problems');
    return;
  }
  void vscode.window.showErrorMessage(`Anneal: the run did not start: ${e.message ?? String(error)}`);
}

/** "Train <stage>" on a dataset (with its recipe when one sits beside it) or on a recipe. */
export async function trainStage(services: Services, stage: Stage, arg?: unknown): Promise<void> {
  const uri = targetUri(arg);
  if (!uri || uri.scheme !== 'file' || !(isDatasetPath(uri.fsPath) || isRecipePath(uri.fsPath))) {
    void vscode.window.showInformationMessage(
      `Anneal: open a dataset (.jsonl) or a recipe (*.anneal.yaml) first, then run "Anneal: Train ${STAGE_TITLES[stage]}".`,
    );
    return;
  }
  if (isRecipePath(uri.fsPath)) return trainRecipe(services, uri);
  const path = uri.fsPath;
  if (!(await checkNoErrors(uri)) || !(await ensureSaved(uri))) return;
  const recipe = recipeForDataset(path, stage, siblingRecipes(path));
  const maxSteps = readConfig().trainMaxSteps;
  if (recipe) {
    if (!(await checkNoErrors(vscode.Uri.file(recipe))) || !(await ensureSaved(vscode.Uri.file(recipe)))) return;
    if (!(await trustedToRun(basename(recipe), recipeFacts(safeRead(recipe), recipe).rewardModules ?? []))) return;
    const params: StartRunParams = { stage, recipe, ...(maxSteps > 0 ? { args: { max_steps: maxSteps } } : {}) };
    return startRun(services, params, `${STAGE_TITLES[stage]} from ${basename(recipe)}`);
  }
  const model = services.context.workspaceState.get<string>(MODEL_KEY) ?? (await chooseModel(services));
  if (!model) return;
  // The daemon gives a recipe-less run its quick-start settings and sample prompts (core/recipe/quickStart.ts).
  const params: StartRunParams = { stage, data: { train: path }, model, ...(maxSteps > 0 ? { args: { max_steps: maxSteps } } : {}) };
  return startRun(services, params, `${STAGE_TITLES[stage]} on ${basename(path)} (model ${model === 'tiny' ? 'tiny' : basename(model)})`);
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** "Train from Recipe": the active recipe, or one the user picks from the workspace. */
export async function trainRecipe(services: Services, arg?: unknown): Promise<void> {
  let uri = targetUri(arg);
  if (!uri || !isRecipePath(uri.fsPath)) {
    const found = await vscode.workspace.findFiles('**/*.anneal.{yaml,yml,json}', '**/node_modules/**', 200);
    if (found.length === 0) {
      void vscode.window.showInformationMessage('Anneal: no recipe (*.anneal.yaml) in this workspace; write one, or run "Anneal: Train SFT" on a dataset.');
      return;
    }
    const picked =
      found.length === 1
        ? { uri: found[0]! }
        : await vscode.window.showQuickPick(
            found.map((u) => ({ label: basename(u.fsPath), description: vscode.workspace.asRelativePath(u), uri: u })),
            { title: 'Anneal: train which recipe?' },
          );
    if (!picked) return;
    uri = picked.uri;
  }
  if (!(await checkNoErrors(uri)) || !(await ensureSaved(uri))) return;
  const text = openDocument(uri)?.getText() ?? safeRead(uri.fsPath);
  const facts = recipeFacts(text, uri.fsPath);
  if (!(await trustedToRun(basename(uri.fsPath), facts.rewardModules ?? []))) return;
  const stage = facts.stage ?? 'sft';
  if (!STAGES.includes(stage)) {
    void vscode.window.showErrorMessage(`Anneal: ${basename(uri.fsPath)} names an unknown stage "${stage}"; use one of ${STAGES.join(', ')}.`);
    return;
  }
  const maxSteps = readConfig().trainMaxSteps;
  return startRun(services, { stage, recipe: uri.fsPath, ...(maxSteps > 0 ? { args: { max_steps: maxSteps } } : {}) }, `${STAGE_TITLES[stage]} from ${basename(uri.fsPath)}`);
}

/** Registers the train commands (every stage's exists; the palette shows those the daemon offers). */
export function registerTrainCommands(services: Services): vscode.Disposable[] {
  return [
    ...STAGES.map((stage) => vscode.commands.registerCommand(trainCommandId(stage), (arg?: unknown) => trainStage(services, stage, arg))),
    vscode.commands.registerCommand(TRAIN_RECIPE_COMMAND, (arg?: unknown) => trainRecipe(services, arg)),
    vscode.commands.registerCommand(CHOOSE_MODEL_COMMAND, async () => {
      const model = await chooseModel(services);
      if (model) void vscode.window.showInformationMessage(`Anneal: runs without a recipe will train ${model === 'tiny' ? 'the built-in tiny model' : model}.`);
    }),
  ];
}

/** `anneal.python`, a relative path taken from the first workspace folder (the daemon knows no working directory). */
function pythonSetting(): string | undefined {
  const python = readConfig().python;
  if (!python) return undefined;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return /[\\/]/.test(python) && !isAbsolute(python) && folder ? join(folder, python) : python;
}
