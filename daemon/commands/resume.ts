// `anneal resume RUN`: continue a stopped, failed or interrupted run from its last checkpoint, then
// follow it like `anneal train`.

import type { Command } from 'commander';
import { GetRun, ResumeRun } from '../../core/protocol/daemon.ts';
import { clientFor, reportError } from '../client/cliSupport.ts';
import { followAndExit } from '../client/followCommand.ts';
import { followPipelineAndExit } from '../client/followPipeline.ts';
import { humanView, jsonView } from '../client/progress.ts';

export function registerResume(program: Command): void {
  program
    .command('resume')
    .description('Continue a stopped, failed or interrupted run from its last checkpoint and follow it.')
    .argument('<run>', 'run id, or a pipeline id (see `anneal runs`)')
    .option('--json', 'print one JSON object per event instead of a progress bar')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (runId: string, opts: { json?: boolean; stateDir?: string }) => {
      const json = opts.json === true;
      try {
        const client = await clientFor(opts.stateDir, true);
        if (runId.startsWith('pipeline-')) {
          // A pipeline continues at the stage and step it stopped at, then runs the stages after it.
          const say = (event: Record<string, unknown>, text: string) => process.stdout.write(json ? JSON.stringify(event) + '\n' : text + '\n');
          await followPipelineAndExit(client, runId, { json, say, view: () => (json ? jsonView() : humanView(process.stdout)), afterSubscribe: () => client.connection.sendRequest(ResumeRun.type, { runId }) });
          return;
        }
        // A run of a pipeline: the pipeline continues after it, so follow the pipeline.
        const { run } = await client.connection.sendRequest(GetRun.type, { runId });
        if (run.pipeline) {
          const say = (event: Record<string, unknown>, text: string) => process.stdout.write(json ? JSON.stringify(event) + '\n' : text + '\n');
          await followPipelineAndExit(client, run.pipeline.id, { json, say, view: () => (json ? jsonView() : humanView(process.stdout)), afterSubscribe: () => client.connection.sendRequest(ResumeRun.type, { runId }) });
          return;
        }
        await followAndExit(client, runId, json ? jsonView() : humanView(process.stdout), {
          json,
          afterSubscribe: () => client.connection.sendRequest(ResumeRun.type, { runId }),
        });
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
}
