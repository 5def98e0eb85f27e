// What a `pairs/score` request loads: a run id becomes the run's output folder with the settings it
// trained with (the seed that drew the built-in tiny base, max_length, DPO's beta); a folder is
// taken as it is. Refusals are ResponseErrors with one sentence, before any child is started.

import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import type { ScorePairsJob } from '../engine/scorePairs.ts';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { isValidRunId } from '../../core/protocol/runId.ts';
import { SCORING_STAGES, type ScorePairsParams } from '../../core/protocol/scorePairs.ts';

export interface ScoreTarget {
  job: ScorePairsJob;
  runId?: string;
}

export interface RunLookup {
  /** The run, or a ResponseError (RunNotFound, InvalidRunId). */
  get(id: string): RunInfo;
  /** The run's folder under the state dir. */
  dir(id: string): string;
}

function kindOf(path: string): 'folder' | 'file' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch {
    return 'missing';
  }
}

const failed = (message: string) => new ResponseError(DaemonErrorCodes.ScoringFailed, message);

/** The engine job for checked params; throws a ResponseError naming what is wrong. */
export function scoreTarget(params: ScorePairsParams, runs: RunLookup, backend?: string): ScoreTarget {
  const data = kindOf(params.data);
  if (data === 'missing') throw failed(`${params.data} does not exist on the daemon's machine.`);
  if (data === 'folder') throw failed(`${params.data} is a folder; give a preference file (JSONL).`);
  const common = { data: params.data, ...(backend ? { backend } : {}) };
  // The built-in base has no head and no adapter: let the engine say so in its words.
  if (params.model === 'tiny') return { job: { ...common, model: 'tiny', beta: params.beta, maxLength: params.maxLength } };
  if (!isValidRunId(params.model)) {
    const kind = kindOf(params.model);
    if (kind === 'missing') throw failed(`${params.model} does not exist on the daemon's machine.`);
    if (kind === 'file') throw failed(`${params.model} is a file; give a model folder (a reward model, or a PEFT adapter such as a run's output/).`);
    if (!existsSync(join(params.model, 'config.json')) && !existsSync(join(params.model, 'adapter_config.json'))) {
      throw failed(`${params.model} is not a model folder: it has neither config.json (a model) nor adapter_config.json (a PEFT adapter).`);
    }
    // A run's own output named by path still needs the run's seed (it drew the tiny base) and settings.
    const owner = runOwning(params.model, runs);
    if (!owner) return { job: { ...common, model: params.model, beta: params.beta, maxLength: params.maxLength } };
    return fromRun(owner, params, runs, common);
  }
  return fromRun(runs.get(params.model), params, runs, common);
}

/** The run whose output folder `dir` is, if any. */
function runOwning(dir: string, runs: RunLookup): RunInfo | undefined {
  const id = basename(dirname(resolve(dir)));
  if (basename(resolve(dir)) !== 'output' || !isValidRunId(id)) return undefined;
  try {
    const run = runs.get(id);
    return resolve(runs.dir(id), 'output') === resolve(dir) ? run : undefined;
  } catch {
    return undefined;
  }
}

function fromRun(run: RunInfo, params: ScorePairsParams, runs: RunLookup, common: Pick<ScorePairsJob, 'data' | 'backend'>): ScoreTarget {
  if (run.status !== 'completed') {
    const why = run.status === 'running' || run.status === 'queued' || run.status === 'stopping' ? `still ${run.status}` : run.status;
    throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} is ${why}; pairs are scored with a run's final output, so use a completed run.`);
  }
  if (!(SCORING_STAGES as readonly string[]).includes(run.stage)) {
    throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} is a ${run.stage.toUpperCase()} run; pairs are scored with a reward model or a policy trained on preferences or SFT (${SCORING_STAGES.join(', ')}).`);
  }
  const modelDir = run.outputDir ?? join(runs.dir(run.id), 'output');
  if (kindOf(modelDir) !== 'folder') throw failed(`Run ${run.id} has no output folder (${modelDir} is missing); it cannot score pairs.`);
  const beta = params.beta ?? (typeof run.args.beta === 'number' ? run.args.beta : undefined);
  return {
    runId: run.id,
    job: { ...common, model: modelDir, seed: run.args.seed, maxLength: params.maxLength ?? run.args.max_length, beta },
  };
}
