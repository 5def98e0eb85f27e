// `anneal logs RUN [--follow]`: print a run's log (engine messages, worker output, status changes).

import type { Command } from 'commander';
import { clientFor, reportError } from '../client/cliSupport.ts';
import { followRun } from '../client/follow.ts';
import { GetPipeline } from '../../core/protocol/pipelines.ts';
import type { RunView } from '../client/progress.ts';

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description('Print the log of a run; --follow keeps printing until the run ends.')
    .argument('<run>', 'run id, or a pipeline id (its decisions: stages started, gate verdicts, handovers)')
    .option('-f, --follow', 'keep printing new lines until the run ends')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (runId: string, opts: { follow?: boolean; stateDir?: string }) => {
      try {
        const client = await clientFor(opts.stateDir, false);
        if (runId.startsWith('pipeline-')) {
          // A pipeline's own log; each stage's run has its log too (`anneal logs RUN`).
          const { log } = await client.connection.sendRequest(GetPipeline.type, { pipelineId: runId, log: true }).finally(() => client.close());
          for (const line of log ?? []) process.stdout.write(line + '\n');
          return;
        }
        const view: RunView = { status: () => {}, metrics: () => {}, sample: () => {}, log: (line) => process.stdout.write(line + '\n'), end: () => {} };
        try {
          await followRun(client, runId, view, { fromStep: Number.MAX_SAFE_INTEGER, logs: true, replayOnly: !opts.follow });
        } finally {
          client.close();
        }
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
}
