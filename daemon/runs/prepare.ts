// Before a run is queued: resolve the recipe (or the CLI's flags) into a complete job and check the
// data with the same core code as `anneal validate`, so bad input is refused with the offending lines
// instead of failing inside the trainer. Reads only the files the request names.

import { TRAINED_STAGES } from '../engine/stages/trained.ts';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { checkDataset, datasetOptionsFor } from '../../core/datasets/index.ts';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { DaemonErrorCodes, type InvalidInputData, type StartRunParams } from '../../core/protocol/daemon.ts';
import type { FileDiagnostics, RunInfo } from '../../core/protocol/runs.ts';
import { resolveRecipe } from '../../core/recipe/index.ts';
import type { ResolvedPipelineStage } from '../../core/recipe/check.ts';
import type { RecipeExport } from '../../core/recipe/exportBlock.ts';
import { dataFacts, failedEntryConditions } from '../../core/pipeline/entry.ts';
import { quickStartArgs, quickStartLora, quickStartNotes, quickStartSamples, samplePrompts } from '../../core/recipe/quickStart.ts';
import type { Engine, ResolvedRecipe, Stage, TrainingArguments } from '../../core/recipe/types.ts';
import type { TrlEngineSettings } from '../../core/protocol/runs.ts';
import { trlPlan } from '../trl/mapping.ts';
import { trlPipelineRefusal } from '../trl/pipelineCheck.ts';
import { defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import type { FileAccess } from '../../core/fileAccess.ts';
import { parseHubRef } from '../../core/hubCache.ts';
import { parseOllamaRef } from '../../core/ollamaStore.ts';
import { readRegularFile } from './safeRead.ts';

/** A run's validated input: what the engine's TrainJob is built from (the run record's fields of the same names). */
export type PreparedRun = Pick<RunInfo, 'stage' | 'model' | 'data' | 'recipe' | 'args' | 'lora' | 'samples' | 'rewards' | 'gates' | 'exportDir' | 'engine' | 'pipeline' | 'autoCheckpointing'> & {
  /** Lines for the run's log: what a recipe-less run chose for the user, and why. */
  notes?: string[];
  /** The recipe's `export:` block (each `out` absolute), written once the run completes. */
  exports?: RecipeExport[];
};

/** A pipeline recipe's stages, each checked and resolved as a run of its own (`@name` references left for the daemon to fill). */
export interface PreparedPipeline {
  kind: 'pipeline';
  /** The recipe file (absolute). */
  recipe: string;
  stages: (Pick<ResolvedPipelineStage, 'name' | 'from' | 'merge'> & { run: PreparedRun })[];
  /** The recipe's top-level `export:` block, written from the pipeline's result. */
  exports?: RecipeExport[];
}

/** Diagnostics shown per file; more would flood a terminal and a JSON-RPC frame. */
const MAX_DIAGNOSTICS_PER_FILE = 50;

/** The most a `runs/start` check reads of one data file (bigger files are refused, to be split). */
export const MAX_CHECKED_DATA_BYTES = 1024 * 1024 * 1024;
/** The most a recipe may hold. */
const MAX_RECIPE_BYTES = 1024 * 1024;

/**
 * Names of files whose lines a diagnostic may quote. A token holder may name any file the daemon can
 * read; only datasets and recipes by name are opened, so `/etc/shadow` is never echoed back.
 */
const DATASET_NAME = /\.(jsonl|ndjson|jsonlines|json)$/i;
const RECIPE_NAME = /\.(ya?ml|json)$/i;

function invalidParams(message: string): ResponseError<void> {
  return new ResponseError(DaemonErrorCodes.InvalidParams, message);
}

function invalidInput(message: string, files: FileDiagnostics[]): ResponseError<InvalidInputData> {
  return new ResponseError(DaemonErrorCodes.InvalidInput, message, { files });
}

function fileProblem(file: string, code: string, message: string): FileDiagnostics {
  const range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return { file, diagnostics: [{ code, severity: 'error', message, range }] };
}

function requireAbsolute(path: unknown, what: string): string {
  if (typeof path !== 'string' || path.length === 0) throw invalidParams(`Invalid params: ${what} must be a file path.`);
  if (!isAbsolute(path)) throw invalidParams(`Invalid params: ${what} must be an absolute path (the daemon does not know the client's working directory), got "${path}".`);
  return path;
}

/**
 * The disk as the recipe checks see it, through readRegularFile: a data path naming a device or a FIFO
 * reads as unreadable instead of never ending, and no file is read past the data cap.
 */
const checkFiles: FileAccess = {
  ...nodeFiles,
  readText(path) {
    const read = readRegularFile(path, MAX_CHECKED_DATA_BYTES);
    return read.ok ? read.bytes.toString('utf8') : undefined;
  },
};

/**
 * Checks the TrainingArguments overrides of a request: known keys, values of the default's type. Their
 * ranges (and how they fit the rest) are the recipe's checks: the overrides go through them as recipe keys.
 */
function checkOverrides(overrides: unknown, stage: Stage): Partial<TrainingArguments> {
  const defaults = defaultTrainingArguments(stage);
  if (overrides === undefined) return {};
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw invalidParams('Invalid params: args must be an object of TrainingArguments.');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(overrides)) {
    const expected = typeof (defaults as unknown as Record<string, unknown>)[key];
    if (expected === 'undefined') throw invalidParams(`Invalid params: unknown training argument "${key}".`);
    if (typeof value !== expected || (expected === 'number' && !Number.isFinite(value))) {
      throw invalidParams(`Invalid params: training argument "${key}" must be a ${expected}, got ${JSON.stringify(value)}.`);
    }
    out[key] = value;
  }
  return out as Partial<TrainingArguments>;
}

/** Reads a data file and returns its error diagnostics (the same checks as `anneal validate`). */
function checkDataFile(path: string, stage: Stage): FileDiagnostics | undefined {
  if (!DATASET_NAME.test(basename(path))) {
    return fileProblem(path, 'file-not-dataset', `The data file ${path} is not named like a dataset (*.jsonl, *.json, *.ndjson); rename it or pass the JSONL file meant.`);
  }
  const read = readRegularFile(path, MAX_CHECKED_DATA_BYTES);
  if (!read.ok) {
    const fix = read.code === 'too-large' ? 'split it into smaller files' : read.code === 'not-regular' ? 'pass a JSONL file' : 'check the path';
    return fileProblem(path, 'file-unreadable', `The data file ${path} ${read.reason}; ${fix}.`);
  }
  // Options as the editor and `anneal validate` build them (a dataset_info.json beside the file included).
  const report = checkDataset(read.bytes, datasetOptionsFor(path, checkFiles, { stage, retainRecords: false, nearDuplicates: false }));
  const errors: Diagnostic[] = report.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) return { file: path, diagnostics: errors.slice(0, MAX_DIAGNOSTICS_PER_FILE) };
  if (report.summary.records === 0) return fileProblem(path, 'no-records', `The data file ${path} has no training records; add at least one JSON line.`);
  checkedRecords.set(path, report.summary.records);
  return undefined;
}

/** Records of each data file checked by this process (a pipeline's entry gates read them). */
const checkedRecords = new Map<string, number>();

/** The data files of a request, refused up front when one cannot be a dataset (before the recipe checks read it). */
function refuseUnsafeData(data: StartRunParams['data']): void {
  const files = [data?.train, data?.eval].filter((f): f is string => typeof f === 'string');
  const problems: FileDiagnostics[] = [];
  for (const file of files) {
    if (!DATASET_NAME.test(basename(file))) {
      problems.push(fileProblem(file, 'file-not-dataset', `The data file ${file} is not named like a dataset (*.jsonl, *.json, *.ndjson); rename it or pass the JSONL file meant.`));
      continue;
    }
    const read = readRegularFile(file, 0, { truncate: true });
    if (!read.ok && read.code === 'not-regular') problems.push(fileProblem(file, 'file-unreadable', `The data file ${file} ${read.reason}; pass a JSONL file.`));
  }
  if (problems.length > 0) throw invalidInput(problems.map((p) => p.diagnostics[0]!.message).join(' '), problems);
}

/** Turns a `runs/start` request into a validated run, or throws the ResponseError to answer with. */
export function prepareRun(raw: Record<string, unknown>): PreparedRun | PreparedPipeline {
  const params = raw as unknown as StartRunParams;
  if (!TRAINED_STAGES.includes(params.stage)) {
    throw invalidParams(`This daemon trains ${TRAINED_STAGES.join(' and ')} so far; got stage ${JSON.stringify(params.stage)}.`);
  }
  if (params.recipe === undefined && params.data === undefined) throw invalidParams('Invalid params: give a recipe or data.train.');
  if (params.data !== undefined && (typeof params.data !== 'object' || params.data === null)) throw invalidParams('Invalid params: data must be { train, eval? }.');
  if (params.model !== undefined && params.model !== 'tiny' && !parseHubRef(params.model) && !parseOllamaRef(params.model)) requireAbsolute(params.model, 'model');

  if (params.engine !== undefined && params.engine !== 'anneal' && params.engine !== 'trl') throw invalidParams(`Invalid params: engine is "anneal" or "trl", got ${JSON.stringify(params.engine)}.`);
  if (params.data !== undefined) refuseUnsafeData(params.data);
  const args = checkOverrides(params.args, params.stage);
  // Without a recipe file the flags become an in-memory recipe, so defaults and checks are the same.
  let recipePath: string;
  let recipeText: string;
  if (params.recipe !== undefined) {
    recipePath = requireAbsolute(params.recipe, 'recipe');
    if (!RECIPE_NAME.test(basename(recipePath))) {
      const message = `The recipe ${recipePath} is not named like a recipe (*.anneal.yaml, *.yaml, *.yml or *.json); rename it or pass the recipe meant.`;
      throw invalidInput(message, [fileProblem(recipePath, 'file-not-recipe', message)]);
    }
    const read = readRegularFile(recipePath, MAX_RECIPE_BYTES);
    if (!read.ok) {
      const message = `The recipe ${recipePath} ${read.reason}; check the path.`;
      throw invalidInput(message, [fileProblem(recipePath, 'file-unreadable', message)]);
    }
    recipeText = read.bytes.toString('utf8');
  } else {
    recipePath = join(process.cwd(), 'cli.anneal.json');
    recipeText = JSON.stringify(quickStartRecipe(params, args));
  }
  // Flags override the recipe's model, data and arguments before it is resolved, so the checks see what will run.
  const resolved = resolveRecipe(recipeText, recipePath, checkFiles, {
    args: params.recipe !== undefined ? args : undefined,
    model: params.model,
    data: params.data ? { train: requireAbsolute(params.data.train, 'data.train'), eval: params.data.eval === undefined ? undefined : requireAbsolute(params.data.eval, 'data.eval') } : undefined,
  });
  const recipeErrors = resolved.diagnostics.filter((d: Diagnostic) => d.severity === 'error');
  if (resolved.pipeline) {
    // Every stage is checked now (its data and its entry gates included), so the last stage's bad file is refused before the first trains.
    const stages = resolved.pipeline.map((s) => ({ name: s.name, from: s.from, merge: s.merge, run: preparedFrom(s.recipe, params, recipePath) }));
    const crossing = trlPipelineRefusal(stages);
    if (crossing) throw invalidInput(`The pipeline ${recipePath} cannot start: ${crossing}`, []);
    const closed = stages.flatMap((s) => failedEntryConditions(s.run.stage, s.run.gates, dataFacts(s.run.stage, checkedRecords.get(s.run.data.train) ?? 0)).map((line) => `${s.name}: ${line}`));
    if (closed.length > 0) throw invalidInput(`The pipeline ${recipePath} cannot start: its entry gates fail on the data (${closed.join('; ')}). Add data, or edit the stage's \`gates: {entry: ...}\`.`, []);
    return { kind: 'pipeline', recipe: recipePath, stages, ...(resolved.pipelineExports?.length ? { exports: resolved.pipelineExports } : {}) };
  }
  if (!resolved.recipe || recipeErrors.length > 0) {
    // Positions in the in-memory recipe mean nothing to the user: say the messages themselves.
    if (params.recipe === undefined) throw invalidInput(recipeErrors.map((d) => d.message).join(' '), []);
    const withArgs = Object.keys(args).length > 0 ? ` with the run's arguments (${Object.keys(args).join(', ')})` : '';
    throw invalidInput(`The recipe ${recipePath}${withArgs} has ${recipeErrors.length} error(s); fix them and start again.`, [{ file: recipePath, diagnostics: recipeErrors }]);
  }
  const recipe = resolved.recipe;
  if (params.stage !== recipe.stage) throw invalidParams(`The recipe ${recipePath} is for stage "${recipe.stage}", not "${params.stage}"; run \`anneal train ${recipe.stage}\` or change the recipe's stage.`);
  return preparedFrom(recipe, params, recipePath);
}

/** A resolved recipe (a single run's, or one stage of a pipeline) as a run: its stage trained here, its data free of errors. */
function preparedFrom(recipe: ResolvedRecipe, params: StartRunParams, recipePath: string): PreparedRun {
  if (!TRAINED_STAGES.includes(recipe.stage)) throw invalidParams(`The recipe's stage is "${recipe.stage}"; this daemon trains ${TRAINED_STAGES.join(' and ')} so far.`);
  const data = recipe.data;
  if (params.python !== undefined && (typeof params.python !== 'string' || params.python.trim() === '')) throw invalidParams('Invalid params: python must be a path or a command.');
  const engine = engineSettings(recipe, params.engine, params.recipe !== undefined ? dirname(recipePath) : undefined, params.python);

  const problems = [data.train, data.eval].filter((f): f is string => f !== undefined).map((f) => checkDataFile(f, recipe.stage)).filter((p): p is FileDiagnostics => p !== undefined);
  if (problems.length > 0) {
    const count = problems.reduce((n, p) => n + p.diagnostics.length, 0);
    throw invalidInput(`The data has ${count} error(s) (listed with their lines); fix them and start again. \`anneal validate FILE\` shows them too.`, problems);
  }
  return {
    stage: recipe.stage,
    model: recipe.model,
    data,
    recipe: params.recipe !== undefined ? recipePath : undefined,
    args: recipe.args,
    lora: recipe.lora,
    samples: recipe.samples,
    ...(recipe.rewards ? { rewards: recipe.rewards } : {}),
    ...(recipe.gates !== undefined ? { gates: recipe.gates } : {}),
    ...(recipe.output_dir ? { exportDir: recipe.output_dir } : {}),
    ...(recipe.exports?.length ? { exports: recipe.exports } : {}),
    ...(engine ? { engine } : {}),
    ...(params.recipe === undefined ? { notes: quickStartNotes(recipe.model, recipe.stage) } : {}),
    ...(params.recipe === undefined && recipe.args.gradient_checkpointing && params.args?.gradient_checkpointing === undefined ? { autoCheckpointing: true } : {}),
  };
}

/**
 * The engine a run trains on: the request's `engine` (`--engine`) over the recipe's. For TRL, what it
 * cannot train at all (the `tiny` model, PPO, a JavaScript reward) is refused here, before a run exists;
 * the Python's packages and every key are checked in the run's worker, before anything is launched.
 */
function engineSettings(recipe: ResolvedRecipe, requested: Engine | undefined, recipeDir: string | undefined, clientPython: string | undefined): TrlEngineSettings | undefined {
  if ((requested ?? recipe.engine ?? 'anneal') !== 'trl') return undefined;
  const planned = trlPlan({ recipe: { ...recipe, engine: 'trl' }, runDir: recipeDir ?? process.cwd() });
  if ('refusal' in planned) throw invalidInput(`The TRL engine cannot train this run: ${planned.refusal}`, []);
  const python = recipe.python ?? clientPython;
  return { name: 'trl', ...(python ? { python } : {}), ...(recipe.accelerate ? { accelerate: recipe.accelerate } : {}), ...(recipeDir ? { recipeDir } : {}) };
}

/**
 * The in-memory recipe of a recipe-less run (`anneal train sft --data X`, the editor's "Train SFT"):
 * the quick-start settings (a from-scratch learning rate for `tiny`) and, unless the request names
 * prompts, the first prompts of the data to sample, so every client starts the same run.
 */
function quickStartRecipe(params: StartRunParams, args: Partial<TrainingArguments>): Record<string, unknown> {
  const model = params.model ?? 'tiny';
  const maxSteps = params.args?.max_steps ?? 0;
  const train = typeof params.data?.train === 'string' ? params.data.train : undefined;
  const samples = params.samples ?? (train ? quickStartSamples(samplePrompts(readHead(train)), maxSteps, model) : undefined);
  const lora = quickStartLora(model);
  return { stage: params.stage, model, data: params.data, ...quickStartArgs(model, maxSteps, params.stage), ...args, ...(lora ? { lora } : {}), ...(samples ? { samples } : {}) };
}

/** The first bytes of a file (enough for its first records), or '' when it is no regular file or cannot be read. */
function readHead(path: string, bytes = 256 * 1024): string {
  const read = readRegularFile(path, bytes, { truncate: true });
  return read.ok ? read.bytes.toString('utf8') : '';
}
