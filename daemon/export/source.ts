// What `anneal export RUN` exports: RUN is a run id under the state dir, a run's folder, or a weights
// folder (a run's output/, a checkpoints/step-N/, any PEFT adapter or Hugging Face model folder).
// The weights are the run's output, else its newest checkpoint; a run with neither is refused here,
// before anything is loaded. The run's record supplies the seed that drew the built-in tiny base.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { isValidRunId } from '../../core/protocol/runId.ts';

export interface ExportSource {
  /** The folder holding the weights (an adapter or a full model). */
  weightsDir: string;
  kind: 'adapter' | 'full';
  /** The run the weights belong to, when known. */
  run?: RunInfo;
  runDir?: string;
  /** Set when the weights are a checkpoint (the run has no final output). */
  checkpointStep?: number;
  /** Seed of the run (the built-in tiny base is drawn from it). */
  seed: number;
  /** The model the run started from, when known (a full checkpoint's tokenizer comes from there). */
  baseModel?: string;
  /** For messages: "run sft-… (output)", "checkpoint step-3 of run …", or the folder. */
  label: string;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The kind of weights `dir` holds, or undefined when it holds none Anneal can export. */
export function weightsKind(dir: string): 'adapter' | 'full' | undefined {
  if (existsSync(join(dir, 'adapter_config.json'))) return 'adapter';
  if (existsSync(join(dir, 'config.json')) && (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, 'model.safetensors.index.json')))) return 'full';
  return undefined;
}

/** The run's checkpoint folders, newest (highest step) first. */
function checkpoints(runDir: string): { step: number; dir: string }[] {
  const root = join(runDir, 'checkpoints');
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .map((n) => ({ step: Number(/^step-(\d+)$/.exec(n)?.[1] ?? NaN), dir: join(root, n) }))
    .filter((c) => Number.isInteger(c.step) && weightsKind(c.dir) !== undefined)
    .sort((a, b) => b.step - a.step);
}

const defaultSeed = () => defaultTrainingArguments('sft').seed;

/** A run folder's weights: output/ when complete, else the newest checkpoint; throws when there are none. */
function fromRunDir(runDir: string, run: RunInfo): ExportSource {
  const seed = typeof run.args?.seed === 'number' ? run.args.seed : defaultSeed();
  const common = { run, runDir, seed, baseModel: run.model };
  const output = join(runDir, 'output');
  const outKind = isDir(output) ? weightsKind(output) : undefined;
  if (outKind) return { ...common, weightsDir: output, kind: outKind, label: `run ${run.id}` };
  const latest = checkpoints(runDir)[0];
  if (latest) {
    return { ...common, weightsDir: latest.dir, kind: weightsKind(latest.dir)!, checkpointStep: latest.step, label: `run ${run.id} (its newest checkpoint, step ${latest.step}: the run has no final output)` };
  }
  const why = run.status === 'queued' || run.status === 'running' ? `it is still ${run.status} and has written no checkpoint yet` : `it has no output/ and no checkpoint (status ${run.status})`;
  throw new Error(`Run ${run.id} has no weights to export: ${why}. Export a run that completed, or one that saved a checkpoint (save_steps).`);
}

/** The run record of `runDir`, if it is a run folder. */
function runRecord(runDir: string): RunInfo | undefined {
  const run = readJson(join(runDir, 'run.json'));
  return run && typeof run.id === 'string' ? (run as unknown as RunInfo) : undefined;
}

/**
 * Resolves `ref` (a run id, a run folder, or a weights folder) to the weights to export; throws one
 * sentence when it names nothing exportable.
 */
export function resolveExportSource(ref: string, stateDir: string): ExportSource {
  const asPath = resolve(ref);
  if (!isDir(asPath)) {
    if (existsSync(asPath)) throw new Error(`${ref} is a file; give a run id (see \`anneal runs\`), a run folder or a model/adapter folder.`);
    if (!isValidRunId(ref)) throw new Error(`${ref} is neither a folder nor a run id (see \`anneal runs\`).`);
    const runDir = join(stateDir, 'runs', ref);
    const run = isDir(runDir) ? runRecord(runDir) : undefined;
    if (!run) throw new Error(`There is no run ${ref} in ${join(stateDir, 'runs')} (see \`anneal runs\`, or pass --state-dir).`);
    return fromRunDir(runDir, run);
  }
  const run = runRecord(asPath);
  if (run) return fromRunDir(asPath, run);
  const kind = weightsKind(asPath);
  if (!kind) {
    throw new Error(`${ref} holds no weights to export: it has neither adapter_config.json (a PEFT adapter) nor config.json with model.safetensors (a model), and no run.json (a run folder).`);
  }
  // output/ or checkpoints/step-N/ of a run: take the run's seed and base from its record.
  const parent = dirname(asPath);
  const owner = basename(asPath) === 'output' ? runRecord(parent) : basename(parent) === 'checkpoints' ? runRecord(dirname(parent)) : undefined;
  const state = readJson(join(asPath, 'trainer_state.json'));
  const seed = typeof owner?.args?.seed === 'number' ? owner.args.seed : typeof state?.seed === 'number' ? state.seed : defaultSeed();
  const baseModel = owner?.model ?? (typeof state?.model === 'string' ? state.model : undefined);
  const step = /^step-(\d+)$/.exec(basename(asPath))?.[1];
  return {
    weightsDir: asPath,
    kind,
    seed,
    ...(owner ? { run: owner, runDir: basename(asPath) === 'output' ? parent : dirname(parent) } : {}),
    ...(baseModel ? { baseModel } : {}),
    ...(state && step ? { checkpointStep: Number(step) } : {}),
    label: owner ? `run ${owner.id} (${basename(asPath) === 'output' ? 'output' : `checkpoint step ${step}`})` : asPath,
  };
}
