// One run's worker process, seen from the daemon: fork it, hand it the job once it is ready, turn its
// IPC messages and stderr into callbacks, and report how it ended. A crash or OOM ends only this run.

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isProcessAlive } from '../client/stateDir.ts';
import type { TrainJob } from '../engine/api.ts';
import { isWorkerMessage, type DaemonToWorker, type WorkerToDaemon } from '../../core/protocol/worker.ts';

export interface WorkerHandlers {
  message(msg: WorkerToDaemon): void;
  /** A line the worker printed (engine console output, Node's fatal errors such as OOM). */
  output(line: string, stream: 'stdout' | 'stderr'): void;
  exit(code: number | null, signal: NodeJS.Signals | null): void;
}

export interface WorkerHandle {
  readonly pid: number | undefined;
  /** Asks the engine to checkpoint and stop. */
  stop(): void;
  /** Ends the process now. */
  kill(): void;
}

/** Forks `workerPath` (dist/worker.js) and starts `job` in it; `exportTo`: see DaemonToWorker `start`. */
export function launchWorker(workerPath: string, job: TrainJob, handlers: WorkerHandlers, exportTo?: string): WorkerHandle {
  const child: ChildProcess = fork(workerPath, [], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // The daemon's own flags (inspector, loaders) are not the worker's business.
    execArgv: [],
    env: process.env,
  });
  const send = (msg: DaemonToWorker<TrainJob>) => {
    if (child.connected) {
      try {
        child.send(msg);
      } catch {
        /* exiting; the exit handler reports it */
      }
    }
  };
  child.on('message', (raw) => {
    if (!isWorkerMessage(raw)) return;
    if (raw.type === 'ready') send({ type: 'start', job, ...(exportTo ? { exportTo } : {}) });
    handlers.message(raw);
  });
  for (const stream of ['stdout', 'stderr'] as const) {
    const s = child[stream];
    if (s) createInterface({ input: s, crlfDelay: Infinity }).on('line', (line) => handlers.output(line, stream));
  }
  // A fork failure (missing worker.js) arrives as 'error' and, when the process never ran, no 'exit'.
  let exited = false;
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    if (exited) return;
    exited = true;
    handlers.exit(code, signal);
  };
  child.on('error', (err) => {
    handlers.output(`worker process error: ${err.message}`, 'stderr');
    if (child.pid === undefined) onExit(1, null);
  });
  // 'close' fires after stdio is drained, so the last stderr lines (an OOM report) arrive first.
  child.on('close', onExit);
  return {
    get pid() {
      return child.pid;
    },
    stop: () => send({ type: 'stop' }),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Ends a worker process left by an earlier daemon, unless its pid now belongs to something else. */
export function killWorkerProcess(pid: number): void {
  if (!isProcessAlive(pid)) return;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('worker')) return; // the pid was reused by an unrelated process
  } catch {
    // No /proc (macOS): trust the pid.
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
