// `models/generate` for one connection: check the params, turn the model named into what the engine
// opens (a run id into its output folder or its base model, with the seed that drew the tiny base),
// then run the engine's generate job (the one `anneal generate` runs) in a child. Cancelling the
// request or closing the connection kills the child; every failure is a ResponseError with one sentence.

import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ResponseError, type CancellationToken, type MessageConnection } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import { checkGenerateParams, GenerateFailedCode, GenerateText, type GenerateParams, type GenerateResult } from '../../core/protocol/generate.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { isValidRunId, RUN_ID_PATTERN } from '../../core/protocol/runId.ts';
import type { GenerateJob, GenerateResult as EngineResult } from '../engine/generateText.ts';
import { runInChild } from '../runs/jobChild.ts';
import type { RunLookup } from '../runs/scoreTarget.ts';

/** Answers one connection may have under way at once: one per side of the side-by-side chat. */
export const MAX_GENERATIONS_PER_CONNECTION = 2;

export interface GenerateDeps {
  runs: RunLookup;
  /** dist/worker.js: its `--job` mode runs the engine's generate job. */
  workerPath: string;
  log(line: string): void;
}

/** What the engine loads for checked params, and how to name it. */
export interface GenerateTarget {
  job: GenerateJob;
  description: string;
  runId?: string;
}

const failed = (message: string) => new ResponseError(GenerateFailedCode, message);

function kindOf(path: string): 'folder' | 'file' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch {
    return 'missing';
  }
}

/** The run whose output folder `dir` is, if any: its seed drew the tiny base the adapter sits on. */
function runOwning(dir: string, runs: RunLookup): RunInfo | undefined {
  const id = basename(dirname(resolve(dir)));
  if (basename(resolve(dir)) !== 'output' || !isValidRunId(id)) return undefined;
  try {
    return resolve(runs.dir(id), 'output') === resolve(dir) ? runs.get(id) : undefined;
  } catch {
    return undefined;
  }
}

function modelLabel(model: string): string {
  // A pipeline stage starts from an earlier run's output folder: name that run.
  const output = /[\\/]runs[\\/]([a-z0-9-]+)[\\/]output[\\/]?$/.exec(model);
  if (output) return `${output[1]} output`;
  return model === 'tiny' ? 'tiny' : basename(model) || model;
}

/** The engine job for checked params; throws a ResponseError naming what is wrong, before any child starts. */
export function generateTarget(params: GenerateParams, runs: RunLookup): GenerateTarget {
  const options = {
    prompt: params.messages.map((m) => ({ role: m.role, content: m.content })) as GenerateJob['prompt'],
    ...(params.maxNewTokens !== undefined ? { maxNewTokens: params.maxNewTokens } : {}),
    ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
  };
  const model = params.model;
  if (model === 'tiny') return { job: { ...options, model, seed: params.seed ?? 42 }, description: 'tiny (the built-in test model)' };
  if (RUN_ID_PATTERN.test(model)) {
    const run = runs.get(model);
    const seed = params.seed ?? run.args.seed ?? 42;
    if (params.base) return { job: { ...options, model: run.model, seed }, description: `base of run ${run.id} (${modelLabel(run.model)})`, runId: run.id };
    const output = run.outputDir ?? join(runs.dir(run.id), 'output');
    if (kindOf(output) !== 'folder') {
      const why = run.status === 'completed' ? 'its output folder is missing' : `it is ${run.status} and has no output yet`;
      throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} cannot answer: ${why}; pick its base model, or a completed run.`);
    }
    return { job: { ...options, model: output, seed }, description: `run ${run.id} (${run.stage.toUpperCase()} on ${modelLabel(run.model)})`, runId: run.id };
  }
  if (model.includes('/') && !model.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(model) && kindOf(model) === 'missing') {
    // A Hub id: the child resolves it (the Hub cache, else a download) and says what went wrong.
    return { job: { ...options, model, seed: params.seed ?? 42 }, description: model };
  }
  const kind = kindOf(model);
  if (kind === 'missing') throw failed(`${model} does not exist on the daemon's machine.`);
  if (kind === 'file' && !model.toLowerCase().endsWith('.gguf')) throw failed(`${model} is a file but not a .gguf model; give a model folder, an adapter folder or a .gguf file.`);
  if (kind === 'folder' && !existsSync(join(model, 'config.json')) && !existsSync(join(model, 'adapter_config.json'))) {
    throw failed(`${model} is not a model folder: it has neither config.json (a model) nor adapter_config.json (a PEFT adapter).`);
  }
  const owner = kind === 'folder' ? runOwning(model, runs) : undefined;
  return { job: { ...options, model, seed: params.seed ?? owner?.args.seed ?? 42 }, description: owner ? `run ${owner.id} (${owner.stage.toUpperCase()} on ${modelLabel(owner.model)})` : modelLabel(model), ...(owner ? { runId: owner.id } : {}) };
}

/** Answers checked params in an engine child; rejects with a ResponseError. */
export async function generateWith(deps: GenerateDeps, params: GenerateParams, signal: AbortSignal): Promise<GenerateResult> {
  const target = generateTarget(params, deps.runs);
  const started = Date.now();
  let result: EngineResult;
  try {
    result = await runInChild<EngineResult>(deps.workerPath, 'generate', target.job, signal);
  } catch (err) {
    if (signal.aborted) throw new ResponseError(DaemonErrorCodes.RequestCancelled, 'The answer was cancelled.');
    const message = err instanceof Error ? err.message : String(err);
    deps.log(`[anneal] models/generate with ${target.job.model} failed: ${message}`);
    throw failed(`${target.description} could not answer: ${message}`);
  }
  return {
    completion: result.completion,
    tokens: result.tokens,
    stopped: result.stopped,
    description: target.description,
    modelRef: target.job.model,
    ...(target.runId ? { runId: target.runId } : {}),
    ms: Date.now() - started,
  };
}

/**
 * Serves `models/generate` on one connection. `initialized` says whether the connection said
 * `initialize`; its answers under way are killed when it closes.
 */
export function registerGenerate(connection: MessageConnection, initialized: () => boolean, deps: GenerateDeps): void {
  const inflight = new Set<AbortController>();
  connection.onRequest(GenerateText.type, async (raw: unknown, token: CancellationToken) => {
    if (!initialized()) throw new ResponseError(DaemonErrorCodes.NotInitialized, 'Send `initialize` first.');
    const checked = checkGenerateParams(raw);
    if (!checked.ok) throw new ResponseError(DaemonErrorCodes.InvalidParams, checked.message);
    if (inflight.size >= MAX_GENERATIONS_PER_CONNECTION) {
      throw new ResponseError(DaemonErrorCodes.Busy, `This connection already has ${inflight.size} answers under way; cancel one or wait for it.`);
    }
    const controller = new AbortController();
    inflight.add(controller);
    const cancel = token.onCancellationRequested(() => controller.abort());
    try {
      return await generateWith(deps, checked.params, controller.signal);
    } catch (err) {
      if (err instanceof ResponseError) throw err;
      throw failed(err instanceof Error ? err.message : String(err));
    } finally {
      cancel.dispose();
      inflight.delete(controller);
    }
  });
  connection.onClose(() => {
    for (const controller of inflight) controller.abort();
  });
}
