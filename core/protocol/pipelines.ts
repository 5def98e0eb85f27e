// A pipeline (a recipe with `stages:`) as the daemon runs it and every client sees it: one id, its
// stages in order, each an ordinary run once it starts, and the gate verdict that decided each handover.
// Stored as `<stateDir>/pipelines/<id>.json`; the requests and the notification are declared here once.

import { NotificationType, ParameterStructures, RequestType } from 'vscode-jsonrpc';
import type { Stage } from '../recipe/types.ts';
import type { RecipeExportRecord } from './runs.ts';

/**
 * running: a stage is queued, training or being prepared (a merge); completed: every stage passed its
 * gates; halted: a failed exit/entry gate or a rollback stopped it, `result` is the last good output;
 * failed: a stage failed for another reason (resume retries it); stopped / interrupted: as for runs
 * (resume continues the stage from its checkpoint).
 */
export type PipelineStatus = 'running' | 'completed' | 'halted' | 'failed' | 'stopped' | 'interrupted';

/** Statuses a pipeline never leaves by itself. */
export const FINAL_PIPELINE_STATUSES: readonly PipelineStatus[] = ['completed', 'halted', 'failed', 'stopped', 'interrupted'];

/** Where a stage in a pipeline stands. `pending`: not started; `passed`: handed over; `held`: its gates stopped the pipeline. */
export type PipelineStageStatus = 'pending' | 'merging' | 'running' | 'passed' | 'held' | 'failed' | 'stopped' | 'interrupted';

export interface PipelineStageInfo {
  /** The stage item's `name` (else its stage: sft, dpo, dpo-2). */
  name: string;
  stage: Stage;
  /** The top-level model, or an earlier stage's output (`@name`). */
  from: { kind: 'model' } | { kind: 'stage'; name: string };
  /** The incoming adapter is merged into its base before this stage. */
  merge: boolean;
  status: PipelineStageStatus;
  /** The stage's run, once started. */
  runId?: string;
  /** The model the run started from (a path once an earlier stage's output was substituted). */
  model?: string;
  /** The run's output folder, once it passed: what later `@name` references resolve to. */
  output?: string;
  /** The gate lines that failed (exit/entry) or held (rollback), or why the stage failed. */
  verdict?: string[];
  /** Its gate report once its run completed: every measured condition's line ("exit loss 1.97 vs < 2.5: pass"). */
  gates?: string[];
  /** Once its run ended: each sample prompt's answer before the stage trained and after (core/pipeline/answers.ts). */
  answers?: StageAnswer[];
}

/** One sample prompt's answer at the stage run's first sample (step 0: before it trained) and at its last. */
export interface StageAnswer {
  prompt: string;
  before: string;
  after: string;
  /** The steps the two answers were sampled at: [first, last]. */
  steps: [number, number];
}

/** The last good stage's output: the pipeline's result. */
export interface PipelineResult {
  stage: string;
  output: string;
}

export interface PipelineInfo {
  id: string;
  /** The recipe file (absolute). */
  recipe: string;
  status: PipelineStatus;
  /** One sentence: what it is doing, or why it ended and what its result is. */
  message: string;
  createdAt: string;
  endedAt?: string;
  /** Index of the stage now running (or where it stopped). */
  current: number;
  stages: PipelineStageInfo[];
  /** The last policy stage that passed its gates (absent while none has). */
  result?: PipelineResult;
  /** The recipe's shared `output_dir`: the result is copied there when the pipeline ends (not each stage's output). */
  exportDir?: string;
  /** Where the result was copied, once it was. */
  exportedTo?: string;
  /** The recipe's top-level `export:` block: each export of the result and what became of it (written once the pipeline ends with a result). */
  exports?: RecipeExportRecord[];
}

/** What a run of a pipeline carries in its record: "stage 2/3 of pipeline X". */
export interface RunPipelineRef {
  id: string;
  /** 0-based stage index. */
  index: number;
  count: number;
  /** The stage's name in the pipeline. */
  name: string;
}

export interface PipelineIdParams {
  pipelineId: string;
}

/** Client -> daemon. Every pipeline, newest first. */
export namespace ListPipelines {
  export const method = 'pipelines/list' as const;
  export const type = new RequestType<Record<string, never>, { pipelines: PipelineInfo[] }, void>(method, ParameterStructures.byName);
}

export interface GetPipelineParams extends PipelineIdParams {
  /** Also answer the pipeline's log (`log.txt`: what it decided at each stage, and why). */
  log?: boolean;
}

/** Client -> daemon. One pipeline (and its log lines when asked). */
export namespace GetPipeline {
  export const method = 'pipelines/get' as const;
  export const type = new RequestType<GetPipelineParams, { pipeline: PipelineInfo; log?: string[] }, void>(method, ParameterStructures.byName);
}

/** Daemon -> every initialized client: a pipeline changed (a stage started, handed over, halted...). */
export namespace PipelineChangedNotification {
  export const method = 'pipelines/changed' as const;
  export const type = new NotificationType<{ pipeline: PipelineInfo }>(method, ParameterStructures.byName);
}

/** True when the pipeline is over (it may still be resumed unless completed or halted). */
export function isFinalPipelineStatus(status: PipelineStatus): boolean {
  return FINAL_PIPELINE_STATUSES.includes(status);
}

/** "stage 2/3 of pipeline X": the run's place in its pipeline, for headers and lists. */
export function describePipelineRef(ref: RunPipelineRef): string {
  return `stage ${ref.index + 1}/${ref.count} (${ref.name}) of pipeline ${ref.id}`;
}
