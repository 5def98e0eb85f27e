// dist/checkWorker.js: a worker thread that turns one `runs/start` request into a validated run
// (prepare.ts: the recipe and the data checked with core/datasets). Checking a big dataset takes
// seconds; here it does not hold up the daemon's event loop. The answer is posted back once.

import { parentPort, workerData } from 'node:worker_threads';
import { ResponseError } from 'vscode-jsonrpc/node';
import { prepareRun } from './prepare.ts';
import type { CheckAnswer } from './prepareOffThread.ts';

function answer(): CheckAnswer {
  try {
    return { ok: true, prepared: prepareRun(workerData as Record<string, unknown>) };
  } catch (err) {
    if (err instanceof ResponseError) return { ok: false, code: err.code, message: err.message, data: err.data };
    return { ok: false, message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined };
  }
}

parentPort?.postMessage(answer());
