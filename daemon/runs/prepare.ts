// Before a run is queued: resolve the recipe (or the CLI's flags) into a complete job and check the
// data with the same core code as `anneal validate`, so bad input is refused with the offending lines
// instead of failing inside the trainer. Reads only the files the request names.

import { TRAINED_STAGES } from '../engine/stages/trained.ts';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { checkDataset, datasetOptionsFor } from '../../core/datasets/index.ts';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { DaemonErrorCodes, type InvalidInputData, type StartRunParams } from '../../core/protocol/daemon.ts';
import type { FileDiagnostics, RunInfo } from '../../core/protocol/runs.ts';
import { resolveRecipe } from '../../core/recipe/index.ts';
import { quickStartArgs, quickStartLora, quickStartNotes, quickStartSamples, samplePrompts } from '../../core/recipe/quickStart.ts';
import type { Stage, TrainingArguments } from '../../core/recipe/types.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { parseHubRef } from '../../core/hubCache.ts';
import { parseOllamaRef } from '../../core/ollamaStore.ts';

/** A run's validated input: what the engine's TrainJob is built from (the run record's fields of the same names). */
export type PreparedRun = Pick<RunInfo, 'stage' | 'model' | 'data' | 'recipe' | 'args' | 'lora' | 'samples' | 'rewards' | 'exportDir'> & {
  /** Lines for the run's log: what a recipe-less run chose for the user, and why. */
  notes?: string[];
};

/** Diagnostics shown per file; more would flood a terminal and a JSON-RPC frame. */
const MAX_DIAGNOSTICS_PER_FILE = 50;

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

/** Checks the TrainingArguments overrides of a request: known keys, values of the default's type. */
function checkOverrides(overrides: unknown, defaults: TrainingArguments): Partial<TrainingArguments> {
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
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a JSONL file' : `cannot be read (${code ?? (err as Error).message})`;
    return fileProblem(path, 'file-unreadable', `The data file ${path} ${why}; check the path.`);
  }
  // Options as the editor and `anneal validate` build them (a dataset_info.json beside the file included).
  const report = checkDataset(bytes, datasetOptionsFor(path, nodeFiles, { stage, retainRecords: false, nearDuplicates: false }));
  const errors: Diagnostic[] = report.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) return { file: path, diagnostics: errors.slice(0, MAX_DIAGNOSTICS_PER_FILE) };
  if (report.summary.records === 0) return fileProblem(path, 'no-records', `The data file ${path} has no training records; add at least one JSON line.`);
  return undefined;
}

/** Turns a `runs/start` request into a validated run, or throws the ResponseError to answer with. */
export function prepareRun(raw: Record<string, unknown>): PreparedRun {
  const params = raw as unknown as StartRunParams;
  if (!TRAINED_STAGES.includes(params.stage)) {
    throw invalidParams(`This daemon trains ${TRAINED_STAGES.join(' and ')} so far; got stage ${JSON.stringify(params.stage)}.`);
  }
  if (params.recipe === undefined && params.data === undefined) throw invalidParams('Invalid params: give a recipe or data.train.');
  if (params.data !== undefined && (typeof params.data !== 'object' || params.data === null)) throw invalidParams('Invalid params: data must be { train, eval? }.');
  if (params.model !== undefined && params.model !== 'tiny' && !parseHubRef(params.model) && !parseOllamaRef(params.model)) requireAbsolute(params.model, 'model');

  // Without a recipe file the flags become an in-memory recipe, so defaults and checks are the same.
  let recipePath: string;
  let recipeText: string;
  if (params.recipe !== undefined) {
    recipePath = requireAbsolute(params.recipe, 'recipe');
    try {
      recipeText = readFileSync(recipePath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw invalidInput(`Cannot read the recipe ${recipePath} (${code ?? 'error'}); check the path.`, [fileProblem(recipePath, 'file-unreadable', `The recipe ${recipePath} cannot be read (${code}).`)]);
    }
  } else {
    recipePath = join(process.cwd(), 'cli.anneal.json');
    recipeText = JSON.stringify(quickStartRecipe(params));
  }
  // Flags override the recipe's model and data before it is resolved, so the checks see the real files.
  const resolved = resolveRecipe(recipeText, recipePath, nodeFiles, {
    model: params.model,
    data: params.data ? { train: requireAbsolute(params.data.train, 'data.train'), eval: params.data.eval === undefined ? undefined : requireAbsolute(params.data.eval, 'data.eval') } : undefined,
  });
  const recipeErrors = resolved.diagnostics.filter((d: Diagnostic) => d.severity === 'error');
  if (!resolved.recipe || recipeErrors.length > 0) {
    // Positions in the in-memory recipe mean nothing to the user: say the messages themselves.
    if (params.recipe === undefined) throw invalidInput(recipeErrors.map((d) => d.message).join(' '), []);
    throw invalidInput(`The recipe ${recipePath} has ${recipeErrors.length} error(s); fix them and start again.`, [{ file: recipePath, diagnostics: recipeErrors }]);
  }
  const recipe = resolved.recipe;
  if (!TRAINED_STAGES.includes(recipe.stage)) throw invalidParams(`The recipe's stage is "${recipe.stage}"; this daemon trains ${TRAINED_STAGES.join(' and ')} so far.`);
  if (params.stage !== recipe.stage) throw invalidParams(`The recipe ${recipePath} is for stage "${recipe.stage}", not "${params.stage}"; run \`anneal train ${recipe.stage}\` or change the recipe's stage.`);
  const data = recipe.data;

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
    args: { ...recipe.args, ...checkOverrides(params.args, recipe.args) },
    lora: recipe.lora,
    samples: recipe.samples,
    ...(recipe.rewards ? { rewards: recipe.rewards } : {}),
    ...(recipe.output_dir ? { exportDir: recipe.output_dir } : {}),
    ...(params.recipe === undefined ? { notes: quickStartNotes(recipe.model, recipe.stage) } : {}),
  };
}

/**
 * The in-memory recipe of a recipe-less run (`anneal train sft --data X`, the editor's "Train SFT"):
 * the quick-start settings (a from-scratch learning rate for `tiny`) and, unless the request names
 * prompts, the first prompts of the data to sample, so every client starts the same run.
 */
function quickStartRecipe(params: StartRunParams): Record<string, unknown> {
  const model = params.model ?? 'tiny';
  const maxSteps = params.args?.max_steps ?? 0;
  const train = typeof params.data?.train === 'string' ? params.data.train : undefined;
  const samples = params.samples ?? (train ? quickStartSamples(samplePrompts(readHead(train)), maxSteps, model) : undefined);
  const lora = quickStartLora(model);
  return { stage: params.stage, model, data: params.data, ...quickStartArgs(model, maxSteps, params.stage), ...(lora ? { lora } : {}), ...(samples ? { samples } : {}) };
}

/** The first bytes of a file (enough for its first records), or '' when it cannot be read. */
function readHead(path: string, bytes = 256 * 1024): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buffer = Buffer.alloc(bytes);
    const n = readSync(fd, buffer, 0, bytes, 0);
    return buffer.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
