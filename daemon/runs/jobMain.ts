// The body of `dist/worker.js --job`: one engine job for a CLI command (`anneal eval`, `anneal
// generate`) in a short-lived child, so the command's own process never loads tfjs and Ctrl-C is
// killing it. Waits for the job over IPC, runs it, sends the result or one sentence, exits.
import type { EngineJobKind, JobToParent, ParentToJob } from '../../core/protocol/worker.ts';
import { sendThenExit } from './scoreMain.ts';
import { describeTrainError } from './workerMain.ts';

export type JobHandlers = Record<EngineJobKind, (job: never) => Promise<unknown>>;

export function runJobChild(handlers: JobHandlers): void {
  if (!process.send) {
    console.error('anneal worker --job: this process is started by the anneal CLI (child_process.fork), not by hand.');
    process.exit(2);
  }
  const finish = (msg: JobToParent, code: number) => sendThenExit(msg, code);
  process.on('disconnect', () => process.exit(0));
  let started = false;
  process.on('message', (raw) => {
    const msg = raw as ParentToJob;
    if (msg?.type !== 'job' || started) return;
    started = true;
    const handler = handlers[msg.kind];
    if (!handler) return finish({ type: 'job-error', message: `This worker runs no "${String(msg.kind)}" job.` }, 1);
    handler(msg.job as never).then(
      (result) => finish({ type: 'job-result', result }, 0),
      (err: unknown) => finish({ type: 'job-error', message: describeTrainError(err), stack: err instanceof Error ? err.stack : undefined }, 1),
    );
  });
  process.send({ type: 'job-ready', pid: process.pid } satisfies JobToParent);
}
