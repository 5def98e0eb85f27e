// One `pairs/score` job seen from the daemon: fork `dist/worker.js --score`, hand it the job once it
// is ready, pass its progress on, and settle with its result or its one-sentence error. Aborting the
// signal kills the child at once (a model may be mid-forward pass: nothing on disk to protect).

import { fork } from 'node:child_process';
import type { ScorePairsJob } from '../engine/scorePairs.ts';
import type { ScorePairsResult } from '../../core/protocol/scorePairs.ts';
import { isScorerMessage, type DaemonToScorer } from '../../core/protocol/worker.ts';

export type ChildScoreResult = Omit<ScorePairsResult, 'runId' | 'modelDir'>;

/** The child's error for the user (its engine's sentence); `cancelled` when the signal ended it. */
export class ScoreError extends Error {
  constructor(message: string, readonly cancelled = false) {
    super(message);
  }
}

export interface ScoreChildOptions {
  onProgress(done: number, total: number): void;
  signal: AbortSignal;
  /** Daemon log: the child's stderr and stacks. */
  log(line: string): void;
}

/** Scores `job` in a fresh child of `workerPath`; rejects with a ScoreError. */
export function scoreInChild(workerPath: string, job: ScorePairsJob, options: ScoreChildOptions): Promise<ChildScoreResult> {
  return new Promise((resolve, reject) => {
    if (options.signal.aborted) return reject(new ScoreError('Scoring was cancelled.', true));
    const child = fork(workerPath, ['--score'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [], env: process.env });
    let stderr = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener('abort', onAbort);
      fn();
    };
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onAbort = () => {
      kill();
      settle(() => reject(new ScoreError('Scoring was cancelled.', true)));
    };
    options.signal.addEventListener('abort', onAbort);
    child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
    child.on('message', (raw) => {
      if (!isScorerMessage(raw)) return;
      switch (raw.type) {
        case 'score-ready': {
          const start: DaemonToScorer<ScorePairsJob> = { type: 'score', job };
          child.send(start, (err) => err && settle(() => reject(new ScoreError(`The scoring process did not take the job (${err.message}).`))));
          return;
        }
        case 'score-progress':
          if (!settled) options.onProgress(raw.done, raw.total);
          return;
        case 'score-result':
          settle(() => resolve(raw.result));
          return;
        case 'score-error':
          if (raw.stack) options.log(`[anneal] pairs/score: ${raw.stack}`);
          settle(() => reject(new ScoreError(raw.message)));
          return;
      }
    });
    child.on('error', (err) => {
      settle(() => reject(new ScoreError(`The scoring process could not start (${err.message}); check that ${workerPath} exists.`)));
      kill();
    });
    child.on('close', (code, signal) => {
      const last = stderr.trim().split('\n').slice(-2).join(' | ');
      if (last && !settled) options.log(`[anneal] pairs/score child stderr: ${stderr.trim()}`);
      const oom = /heap out of memory|ENOMEM|Cannot allocate|memory access out of bounds|OOM when allocating|bad_alloc/i.test(stderr) || signal === 'SIGKILL';
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(() => reject(new ScoreError(`The scoring process ${how} without an answer${oom ? ', most likely out of memory: score with a smaller maxLength' : ''}${last ? ` (last output: ${last})` : ''}.`)));
    });
  });
}
