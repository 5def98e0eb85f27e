// `anneal runs [--json]`: every run of the daemon, newest first; a pipeline's runs grouped under it.

import type { Command } from 'commander';
import { ListRuns } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { ListPipelines, type PipelineInfo } from '../../core/protocol/pipelines.ts';
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
        const { runs } = await client.connection.sendRequest(ListRuns.type, {});
        // A daemon older than pipelines answers MethodNotFound: no pipelines then.
        const { pipelines } = await client.connection.sendRequest(ListPipelines.type, {}).catch(() => ({ pipelines: [] as PipelineInfo[] })).finally(() => client.close());
        if (opts.json) {
          for (const run of runs) process.stdout.write(JSON.stringify(run) + '\n');
          return;
        }
        if (runs.length === 0) {
          process.stdout.write('No runs yet. Start one with `anneal train sft --data FILE`.\n');
          return;
        }
        const runRow = (r: RunInfo, indent = '') => [indent + r.id, r.status, lastLoss(r), r.model, r.createdAt.replace('T', ' ').slice(0, 19), r.error ?? ''];
        const rows = groupedRows(runs, pipelines, runRow);
        const head = ['RUN', 'STATUS', 'STEP', 'MODEL', 'CREATED (UTC)', 'ERROR'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const row of [head, ...rows]) process.stdout.write(row.map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd() + '\n');
      } catch (err) {
        process.exitCode = reportError(err, opts.json === true);
      }
    });
}

/**
 * One row per run, newest first, except that a pipeline's runs sit under its own row (indented, in
 * stage order) where the pipeline was created; the pipeline row's last column is its message unless it
 * completed.
 */
function groupedRows(runs: RunInfo[], pipelines: PipelineInfo[], runRow: (r: RunInfo, indent?: string) => string[]): string[][] {
  const byPipeline = new Map<string, RunInfo[]>();
  for (const r of runs) if (r.pipeline) byPipeline.set(r.pipeline.id, [...(byPipeline.get(r.pipeline.id) ?? []), r]);
  const known = new Set(pipelines.map((p) => p.id));
  type Item = { createdAt: string; rows: string[][] };
  const items: Item[] = runs.filter((r) => !r.pipeline || !known.has(r.pipeline.id)).map((r) => ({ createdAt: r.createdAt, rows: [runRow(r)] }));
  for (const p of pipelines) {
    const stageRuns = (byPipeline.get(p.id) ?? []).sort((a, b) => a.pipeline!.index - b.pipeline!.index || (a.createdAt < b.createdAt ? -1 : 1));
    const head = [p.id, p.status, `stage ${Math.min(p.current + 1, p.stages.length)}/${p.stages.length}`, p.stages.map((s) => s.name).join(' -> '), p.createdAt.replace('T', ' ').slice(0, 19), p.status === 'completed' || p.status === 'running' ? '' : p.message];
    items.push({ createdAt: p.createdAt, rows: [head, ...stageRuns.map((r) => runRow(r, '  '))] });
  }
  items.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return items.flatMap((i) => i.rows);
}
