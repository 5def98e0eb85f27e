// dist/checkWorker.js: a short-lived child process that turns one `runs/start` request into a
// validated run (prepare.ts: the recipe and the data checked with core/datasets). It runs apart from
// the daemon so a check that runs away (a huge file, a bug) costs only this process, which the daemon
// kills at its time limit; the daemon's connections and runs never notice.

import { ResponseError } from 'vscode-jsonrpc/node';
import { prepareRun } from './prepare.ts';
import type { CheckAnswer } from './checkRunner.ts';

function answer(params: Record<string, unknown>): CheckAnswer {
  try {
    return { ok: true, prepared: prepareRun(params) };
  } catch (err) {
    if (err instanceof ResponseError) return { ok: false, code: err.code, message: err.message, data: err.data };
    return { ok: false, message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined };
  }
}

if (!process.send) {
  process.stderr.write('anneal checkWorker: this process is started by the daemon, not by hand.\n');
  process.exit(2);
}
process.once('message', (params) => {
  const reply = answer(params as Record<string, unknown>);
  process.send!(reply, undefined, {}, () => process.exit(0));
});
// The daemon is gone: nobody waits for the answer.
process.on('disconnect', () => process.exit(0));
