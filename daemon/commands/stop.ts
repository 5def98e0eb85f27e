// `anneal stop RUN [--force]`: ask the daemon to checkpoint and stop a run (or drop it from the queue).

import type { Command } from 'commander';
import { StopRun } from '../../core/protocol/daemon.ts';
import { clientFor, reportError } from '../client/cliSupport.ts';

export function registerStop(program: Command): void {
  program
    .command('stop')
    .description('Stop a run: it writes a checkpoint and ends (`anneal resume RUN` continues it).')
    .argument('<run>', 'run id (see `anneal runs`)')
    .option('--force', 'end the worker now, without a final checkpoint')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (runId: string, opts: { force?: boolean; stateDir?: string }) => {
      try {
        const client = await clientFor(opts.stateDir, false);
        const { run, pipeline } = await client.connection.sendRequest(StopRun.type, { runId, force: opts.force === true }).finally(() => client.close());
        if (pipeline) process.stdout.write(`Pipeline ${pipeline.id}: stopping at stage ${pipeline.current + 1}/${pipeline.stages.length} (${pipeline.stages[pipeline.current]?.name}).\n`);
        process.stdout.write(`Run ${run.id}: ${run.status}${run.message ? ` - ${run.message}` : ''}\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
}
