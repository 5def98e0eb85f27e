// The tail of `anneal train` and `anneal resume`: follow the run, let Ctrl-C stop it, and exit with
// 0 when it completed or 1 with the reason otherwise.

import { StopRun, Subscribe } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import type { DaemonClient } from './connect.ts';
import { exportLine, waitForExports, watchRun } from './follow.ts';
import type { RunView } from './progress.ts';
import { isFinalStatus } from '../../core/protocol/runs.ts';

export interface FollowCommandOptions {
  fromStep?: number;
  json: boolean;
  /** Sent after subscribing (e.g. the resume request), so no event falls between the two. */
  afterSubscribe?: () => Promise<unknown>;
}

/** Follows `runId` to its end and sets the process exit code; Ctrl-C stops the run. */
export async function followAndExit(client: DaemonClient, runId: string, view: RunView, options: FollowCommandOptions): Promise<void> {
  const { ended } = watchRun(client, () => runId, view);
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      view.end();
      process.stderr.write(`Leaving run ${runId} to stop on the daemon.\n`);
      process.exit(130);
    }
    view.end();
    process.stderr.write(`Stopping run ${runId} (it writes a checkpoint first; Ctrl-C again to stop waiting)...\n`);
    client.connection.sendRequest(StopRun.type, { runId }).catch(() => {});
  };
  process.on('SIGINT', onSigint);
  try {
    const sub = await client.connection.sendRequest(Subscribe.type, { runId, fromStep: options.fromStep });
    view.status(sub.run);
    let final: RunInfo;
    if (options.afterSubscribe) {
      await options.afterSubscribe();
      final = await ended;
    } else {
      final = isFinalStatus(sub.run.status) ? sub.run : await ended;
    }
    view.end();
    if (final.status === 'completed') {
      if (!options.json) process.stdout.write(`Run ${runId} completed at step ${final.step}; output in ${final.outputDir ?? '(none)'}.\n`);
      // The recipe's `export:` block is written once the run completed: wait for it and say where it went.
      if (final.exports?.length) {
        if (!options.json) process.stdout.write(`Writing the recipe's exports (${final.exports.map((e) => `${e.format}${e.quant ? ` ${e.quant}` : ''}`).join(', ')})...\n`);
        final = await waitForExports(client, final);
        for (const e of final.exports ?? []) process.stdout.write(options.json ? JSON.stringify({ event: 'export', runId, ...e }) + '\n' : exportLine(e) + '\n');
      }
      if (final.degraded) process.stderr.write(`anneal: warning: run ${runId}: ${final.degraded}\n`);
      process.exitCode = 0;
    } else {
      const reason = final.error ?? final.message ?? final.status;
      if (options.json) process.stdout.write(JSON.stringify({ event: 'error', runId, status: final.status, message: reason }) + '\n');
      process.stderr.write(`anneal: run ${runId} ${final.status}: ${reason}\n`);
      process.exitCode = interrupts > 0 && final.status === 'stopped' ? 130 : 1;
    }
  } finally {
    process.off('SIGINT', onSigint);
    client.close();
  }
}
