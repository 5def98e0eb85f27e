// A run's record (run.json, RunInfo) made from its validated input, and the job its worker trains from
// it: the two field-by-field translations, kept next to each other so a new run setting is carried
// through both.
import type { RunInfo } from '../../core/protocol/runs.ts';
import type { TrlJob } from '../trl/train.ts';
import type { PreparedRun } from './prepare.ts';
import { exportRecords } from './recipeExports.ts';

/** A queued run's record: `prepared`'s settings, no progress yet; `dir` is the run's folder (for its exports). */
export function newRunRecord(id: string, prepared: PreparedRun, createdAt: string, dir: string): RunInfo {
  return {
    id,
    stage: prepared.stage,
    status: 'queued',
    createdAt,
    model: prepared.model,
    data: prepared.data,
    recipe: prepared.recipe,
    args: prepared.args,
    lora: prepared.lora,
    samples: prepared.samples,
    ...(prepared.rewards ? { rewards: prepared.rewards } : {}),
    ...(prepared.gates !== undefined ? { gates: prepared.gates } : {}),
    ...(prepared.exportDir ? { exportDir: prepared.exportDir } : {}),
    ...(prepared.engine ? { engine: prepared.engine } : {}),
    ...(prepared.pipeline ? { pipeline: prepared.pipeline } : {}),
    ...(prepared.autoCheckpointing ? { autoCheckpointing: true } : {}),
    ...(prepared.exports?.length ? { exports: exportRecords(prepared.exports, dir) } : {}),
    step: 0,
    resumes: [],
  };
}

/** What the worker trains for `run` (Anneal's engine, or TRL when the run names it), resuming from its checkpoint if it has one. */
export function jobFor(run: RunInfo, dir: string, backend: string | undefined): TrlJob {
  return {
    stage: run.stage,
    runDir: dir,
    model: run.model,
    data: run.data,
    args: run.args,
    lora: run.lora,
    samples: run.samples,
    ...(run.rewards ? { rewards: run.rewards } : {}),
    ...(run.gates !== undefined ? { gates: run.gates } : {}),
    resumeFrom: run.checkpoint?.path,
    ...(run.autoCheckpointing ? { autoCheckpointing: true } : {}),
    ...(backend ? { backend } : {}),
    ...(run.engine ? { engine: 'trl' as const, python: run.engine.python, accelerate: run.engine.accelerate, recipeDir: run.engine.recipeDir } : {}),
  };
}
