// Messages between the daemon and a run's worker process (Node IPC, `process.send`). The worker runs
// the engine; the daemon is the only writer of the run's files and forwards every event to clients.

import type { BackendInfo, MetricRecord, PhaseProgress, RunPhase, SampleRecord } from './runs.ts';
import type { ScorePairsResult } from './scorePairs.ts';

/** Daemon -> worker. `Job` is the engine's TrainJob (declared at the engine boundary, daemon/engine/api.ts). */
export type DaemonToWorker<Job = unknown> =
  /**
   * Train this job; sent once, right after the worker reports `ready`. `exportTo` (a recipe's
   * `output_dir`, absolute): once training completes, the worker also copies the output there.
   */
  | { type: 'start'; job: Job; exportTo?: string }
  /** Checkpoint and stop at the next step boundary (the engine's AbortSignal fires). */
  | { type: 'stop' };

/** Worker -> daemon. */
export type WorkerToDaemon =
  /** The worker process is up and listening for `start`. */
  | { type: 'ready'; pid: number }
  | { type: 'status'; phase: RunPhase; message?: string; progress?: PhaseProgress; totalSteps?: number; backend?: BackendInfo }
  | { type: 'metrics'; record: MetricRecord }
  | { type: 'sample'; record: SampleRecord }
  | { type: 'log'; line: string }
  /** A checkpoint folder is complete on disk. */
  | { type: 'checkpoint'; step: number; path: string }
  /**
   * Training returned; the worker exits next. `exportedTo`: where the output was also copied;
   * `exportError`: why the requested copy was not made (the run's own output/ is intact either way).
   */
  | { type: 'result'; finalStep: number; outputDir: string; stopped: boolean; exportedTo?: string; exportError?: string }
  /** Training threw; `message` is the sentence for the user, `stack` goes to the log. */
  | { type: 'error'; message: string; stack?: string };

const WORKER_MESSAGE_TYPES = new Set(['ready', 'status', 'metrics', 'sample', 'log', 'checkpoint', 'result', 'error']);

/** True when an IPC payload is one of the worker's messages (anything else is ignored and logged). */
export function isWorkerMessage(value: unknown): value is WorkerToDaemon {
  return typeof value === 'object' && value !== null && WORKER_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}

/**
 * `dist/worker.js --probe [--backend NAME]` -> daemon, once, then the process exits: which backend a
 * run on this machine gets (the daemon itself never loads tfjs), or why none could start.
 */
export type ProbeToDaemon = { type: 'probe'; backend: BackendInfo } | { type: 'probe-error'; message: string };

/** True when an IPC payload is the backend probe's answer. */
export function isProbeMessage(value: unknown): value is ProbeToDaemon {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  return type === 'probe' || type === 'probe-error';
}

/**
 * Daemon -> `dist/worker.js --score`, once, after the child said `score-ready`: score these pairs.
 * `Job` is the engine's ScorePairsJob (daemon/engine/scorePairs.ts).
 */
export type DaemonToScorer<Job = unknown> = { type: 'score'; job: Job };

/** `dist/worker.js --score` -> daemon; the child exits after `score-result` or `score-error`. */
export type ScorerToDaemon =
  | { type: 'score-ready'; pid: number }
  | { type: 'score-progress'; done: number; total: number }
  | { type: 'score-result'; result: Omit<ScorePairsResult, 'runId' | 'modelDir'> }
  /** `message` is the engine's sentence for the user; `stack` goes to the daemon log. */
  | { type: 'score-error'; message: string; stack?: string };

const SCORER_MESSAGE_TYPES = new Set(['score-ready', 'score-progress', 'score-result', 'score-error']);

/** True when an IPC payload is one of the score child's messages. */
export function isScorerMessage(value: unknown): value is ScorerToDaemon {
  return typeof value === 'object' && value !== null && SCORER_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}

/** The one-shot engine jobs `dist/worker.js --job` runs for the CLI (`anneal eval`, `anneal generate`). */
export type EngineJobKind = 'eval' | 'generate';

/** Parent -> `dist/worker.js --job`, once, after the child said `job-ready`. */
export type ParentToJob = { type: 'job'; kind: EngineJobKind; job: unknown };

/** `dist/worker.js --job` -> parent; the child exits after `job-result` or `job-error`. */
export type JobToParent =
  | { type: 'job-ready'; pid: number }
  | { type: 'job-result'; result: unknown }
  /** `message` is the engine's sentence for the user; `stack` is for debugging. */
  | { type: 'job-error'; message: string; stack?: string };

const JOB_MESSAGE_TYPES = new Set(['job-ready', 'job-result', 'job-error']);

export function isJobMessage(value: unknown): value is JobToParent {
  return typeof value === 'object' && value !== null && JOB_MESSAGE_TYPES.has((value as { type?: unknown }).type as string);
}
