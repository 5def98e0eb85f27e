// The body of `dist/worker.js --score`: wait for one scoring job over IPC, check that the file holds
// preference pairs, score them with the engine, send progress and the result, and exit. It runs in a
// short-lived child so the daemon's event loop never loads tfjs, and cancelling is killing it.

import { readFileSync } from 'node:fs';
import type { ScorePairsJob, scorePairs } from '../engine/scorePairs.ts';
import { scorableDataProblem } from '../../core/pairs/scorableData.ts';
import type { DaemonToScorer, ScorerToDaemon } from '../../core/protocol/worker.ts';
import { describeTrainError } from './workerMain.ts';

/** The data file's problem for scoring, in one sentence, or undefined when it looks like pairs. */
export function dataProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${path} does not exist.`;
    if (code === 'EISDIR') return `${path} is a folder; give a preference file (JSONL).`;
    return `Cannot read ${path} (${(err as Error).message}).`;
  }
  return scorableDataProblem(path, text.split('\n'));
}

/** Sends a short-lived child's last message, then exits (tfjs may keep handles alive otherwise). */
export function sendThenExit(msg: object, code: number): void {
  try {
    process.send?.(msg, undefined, {}, () => process.exit(code));
  } catch {
    process.exit(code);
  }
}

/** Runs the score child with `score` (daemon/runs/worker.ts passes the real engine). */
export function runScorer(score: typeof scorePairs): void {
  if (!process.send) {
    console.error('anneal worker --score: this process is started by the daemon (child_process.fork), not by hand.');
    process.exit(2);
  }
  const send = (msg: ScorerToDaemon) => {
    try {
      process.send?.(msg);
    } catch {
      /* daemon gone: 'disconnect' exits */
    }
  };
  const finish = (msg: ScorerToDaemon, code: number) => sendThenExit(msg, code);
  // Nobody waits for the answer any more (the request was cancelled, the daemon died).
  process.on('disconnect', () => process.exit(0));
  let started = false;
  process.on('message', (raw) => {
    const msg = raw as DaemonToScorer<ScorePairsJob>;
    if (msg?.type !== 'score' || started) return;
    started = true;
    const problem = dataProblem(msg.job.data);
    if (problem) return finish({ type: 'score-error', message: problem }, 1);
    score(msg.job, (done, total) => send({ type: 'score-progress', done, total })).then(
      (result) => finish({ type: 'score-result', result }, 0),
      (err: unknown) => finish({ type: 'score-error', message: describeTrainError(err), stack: err instanceof Error ? err.stack : undefined }, 1),
    );
  });
  send({ type: 'score-ready', pid: process.pid });
}
