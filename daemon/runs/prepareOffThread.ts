// `runs/start`'s checks off the daemon's event loop: prepare.ts runs in a worker thread
// (dist/checkWorker.js), so other connections are answered while a big dataset is checked. The
// answer and its errors are the same as running prepareRun in place.

import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { ResponseError, ErrorCodes } from 'vscode-jsonrpc/node';
import { prepareRun, type PreparedRun } from './prepare.ts';

/** What the check thread posts back: the run, or the ResponseError's parts. */
export type CheckAnswer =
  | { ok: true; prepared: PreparedRun }
  | { ok: false; code?: number; message: string; data?: unknown; stack?: string };

/**
 * Validates a `runs/start` request in a worker thread running `checkWorkerPath`; rejects with the
 * same ResponseError prepareRun throws. Without the bundle (a source checkout) it checks in place.
 */
export function prepareRunOffThread(params: Record<string, unknown>, checkWorkerPath: string, log: (line: string) => void = () => {}): Promise<PreparedRun> {
  if (!existsSync(checkWorkerPath)) {
    log(`[anneal] ${checkWorkerPath} is missing (build with \`node esbuild.mjs\`): checking data on the daemon's event loop`);
    return Promise.resolve().then(() => prepareRun(params));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    // Only plain JSON crosses the thread boundary.
    const worker = new Worker(checkWorkerPath, { workerData: JSON.parse(JSON.stringify(params)) });
    worker.once('message', (msg: CheckAnswer) => {
      settle(() => {
        if (msg.ok) resolve(msg.prepared);
        else if (msg.code !== undefined) reject(new ResponseError(msg.code, msg.message, msg.data));
        else {
          if (msg.stack) log(`[anneal] data check failed: ${msg.stack}`);
          reject(new ResponseError(ErrorCodes.InternalError, `The data check failed: ${msg.message}`));
        }
      });
    });
    worker.once('error', (err: Error & { code?: string }) => {
      settle(() => {
        log(`[anneal] data check thread failed: ${err.stack ?? err.message}`);
        const oom = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
        reject(new ResponseError(ErrorCodes.InternalError, oom
          ? 'The data is too large to check in memory; split the file into smaller ones.'
          : `The data check failed: ${err.message}`));
      });
    });
    worker.once('exit', (code) => {
      settle(() => reject(new ResponseError(ErrorCodes.InternalError, `The data check stopped (exit code ${code}) without an answer.`)));
    });
  });
}
