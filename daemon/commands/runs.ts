// `anneal runs [--json]`: every run of the daemon, newest first.

import type { Command } from 'commander';
import { ListRuns } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { clientFor, reportError } from '../client/cliSupport.ts';

function lastLoss(run: RunInfo): string {
  return run.totalSteps ? `${run.step}/${run.totalSteps}` : String(run.step);
}

export function registerRuns(program: Command): void {
  program
    .command('runs')
    .description('List the runs of the daemon (running, queued, finished, interrupted).')
    .option('--json', 'one JSON object per run')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (opts: { json?: boolean; stateDir?: string }) => {
      try {
        const client = await clientFor(opts.stateDir, true);
        const { runs } = await client.connection.sendRequest(ListRuns.type, {}).finally(() => client.close());
        if (opts.json) {
          for (const run of runs) process.stdout.write(JSON.stringify(run) + '\n');
          return;
        }
        if (runs.length === 0) {
          process.stdout.write('No runs yet. Start one with `anneal train sft --data FILE`.\n');
          return;
        }
        const rows = runs.map((r) => [r.id, r.status, lastLoss(r), r.model, r.createdAt.replace('T', ' ').slice(0, 19), r.error ?? '']);
        const head = ['RUN', 'STATUS', 'STEP', 'MODEL', 'CREATED (UTC)', 'ERROR'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const row of [head, ...rows]) process.stdout.write(row.map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd() + '\n');
      } catch (err) {
        process.exitCode = reportError(err, opts.json === true);
      }
    });
}
