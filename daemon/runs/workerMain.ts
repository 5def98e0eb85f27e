// The body of a run's worker process: wait for the job over IPC, run the engine, forward every
// engine event to the daemon, and exit. The worker never writes the run's stream files itself.

import type { Train, TrainJob } from '../engine/api.ts';
import type { DaemonToWorker, WorkerToDaemon } from '../../core/protocol/worker.ts';
import { basename } from 'node:path';
import { exportOutput } from './exportOutput.ts';

/** One sentence for the user from whatever the engine threw. */
export function describeTrainError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const message = err instanceof Error ? err.message : String(err);
  if (e?.code === 'ENOSPC') {
    return `The disk is full (${message}); free some space and resume the run - its last complete checkpoint is kept.`;
  }
  if (e?.code === 'EACCES' || e?.code === 'EPERM') {
    return `Permission denied (${message}); make the state dir writable and resume the run.`;
  }
  return message;
}

/** Runs the worker loop with `train` (daemon/runs/worker.ts passes the real engine). */
export function runWorker(train: Train): void {
  if (!process.send) {
    console.error('anneal worker: this process is started by the daemon (child_process.fork), not by hand.');
    process.exit(2);
  }
  const send = (msg: WorkerToDaemon) => {
    // A send after the daemon died throws ERR_IPC_CHANNEL_CLOSED; the 'disconnect' handler exits.
    try {
      process.send?.(msg);
    } catch {
      /* daemon gone */
    }
  };
  // The engine may leave timers or wasm handles alive: exit explicitly once the last message is out.
  const finish = (msg: WorkerToDaemon, code: number) => {
    try {
      process.send?.(msg, undefined, {}, () => process.exit(code));
    } catch {
      process.exit(code);
    }
  };
  const controller = new AbortController();
  let started = false;

  // The daemon is gone (killed, crashed): nobody can record our progress, so stop now. The last
  // checkpoint on disk stays valid and a restarted daemon marks this run interrupted.
  process.on('disconnect', () => process.exit(0));

  process.on('message', (raw) => {
    const msg = raw as DaemonToWorker<TrainJob>;
    if (msg?.type === 'stop') {
      controller.abort();
      return;
    }
    if (msg?.type !== 'start' || started) return;
    started = true;
    train(
      msg.job,
      {
        status: (s) => send({ type: 'status', ...s }),
        metrics: (m) => send({ type: 'metrics', record: m }),
        sample: (s) => send({ type: 'sample', record: s }),
        log: (line) => send({ type: 'log', line }),
        checkpoint: (c) => send({ type: 'checkpoint', step: c.step, path: c.path }),
      },
      controller.signal,
    ).then(
      (result) => {
        const exportTo = msg.exportTo;
        if (result.stopped || !exportTo) return finish({ type: 'result', ...result }, 0);
        // The copy runs here, not in the daemon: a big model never blocks the daemon's event loop.
        send({ type: 'status', phase: 'saving', message: `copying the output to ${exportTo}` });
        try {
          exportOutput(result.outputDir, exportTo, { runId: basename(msg.job.runDir), step: result.finalStep });
          send({ type: 'log', line: `[anneal] output copied to ${exportTo} (output_dir)` });
          finish({ type: 'result', ...result, exportedTo: exportTo }, 0);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          send({ type: 'log', line: `[anneal] output not copied: ${why}` });
          finish({ type: 'result', ...result, exportError: why }, 0);
        }
      },
      (err: unknown) => finish({ type: 'error', message: describeTrainError(err), stack: err instanceof Error ? err.stack : undefined }, 1),
    );
  });
  send({ type: 'ready', pid: process.pid });
}
