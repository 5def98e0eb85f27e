// Follow one run over a daemon connection until it ends: replay (optionally) then stream its events
// into a view. Shared by `anneal train`, `anneal resume` and `anneal logs --follow`.

import {
  GetRun, RunLogNotification, RunMetricsNotification, RunSampleNotification, RunStatusNotification, Subscribe,
} from '../../core/protocol/daemon.ts';
import { isFinalStatus, type RecipeExportRecord, type RunInfo } from '../../core/protocol/runs.ts';
import type { DaemonClient } from './connect.ts';
import type { RunView } from './progress.ts';

export interface FollowOptions {
  /** Replay stored history from this step first; omit for live events only. */
  fromStep?: number;
  logs?: boolean;
  /** Resolve right after the replay instead of waiting for the run to end. */
  replayOnly?: boolean;
}

/** Routes a run's notifications to `view`; call before the request that makes the run move. */
export function watchRun(client: DaemonClient, runId: () => string | undefined, view: RunView): { ended: Promise<RunInfo> } {
  let resolveEnd!: (run: RunInfo) => void;
  let rejectEnd!: (err: Error) => void;
  const ended = new Promise<RunInfo>((resolve, reject) => {
    resolveEnd = resolve;
    rejectEnd = reject;
  });
  const c = client;
  c.on(RunStatusNotification.type, ({ run }) => {
    if (run.id !== runId()) return;
    view.status(run);
    if (isFinalStatus(run.status)) resolveEnd(run);
  });
  c.on(RunMetricsNotification.type, (p) => {
    if (p.runId === runId()) view.metrics(p.record);
  });
  c.on(RunSampleNotification.type, (p) => {
    if (p.runId === runId()) view.sample(p.record);
  });
  c.on(RunLogNotification.type, (p) => {
    if (p.runId === runId()) view.log(p.line);
  });
  client.closed.then(() => rejectEnd(new Error('Lost the connection to the daemon; the run goes on - `anneal runs` shows it.')));
  ended.catch(() => {});
  return { ended };
}

/** Subscribes to `runId` and resolves with the run's final record (or after the replay). */
export async function followRun(client: DaemonClient, runId: string, view: RunView, options: FollowOptions = {}): Promise<RunInfo> {
  const { ended } = watchRun(client, () => runId, view);
  const result = await client.connection.sendRequest(Subscribe.type, { runId, fromStep: options.fromStep, logs: options.logs });
  if (options.replayOnly) return result.run;
  view.status(result.run);
  if (isFinalStatus(result.run.status)) return result.run;
  return ended;
}

/** True while one of a recipe's exports is still to be written. */
export const exportsPending = (records: readonly RecipeExportRecord[] | undefined): boolean => (records ?? []).some((e) => e.status === 'pending' || e.status === 'running');

/** What became of one export of a recipe's `export:` block, for a terminal: where it went (and llama.cpp's check of a GGUF), or why it failed. */
export function exportLine(e: RecipeExportRecord): string {
  const what = `${e.format}${e.quant ? ` (${e.quant})` : ''}`;
  if (e.status !== 'done') return `Export ${what} failed: ${e.error ?? 'no reason given'}`;
  const check = e.llamaCheck ? `\n  ${e.llamaCheck.summary.split('\n').join('\n  ')}` : '';
  return `Exported ${what} to ${e.out}: ${(e.files ?? []).join(', ')}${check}`;
}

/**
 * After a run completed: waits until the recipe's exports of `run` are written (each change arrives as
 * a status notification), and resolves with the run's record as it is then.
 */
export function waitForExports(client: DaemonClient, run: RunInfo): Promise<RunInfo> {
  if (!exportsPending(run.exports)) return Promise.resolve(run);
  return new Promise<RunInfo>((resolve, reject) => {
    const sub = client.on(RunStatusNotification.type, ({ run: r }) => {
      if (r.id !== run.id || exportsPending(r.exports)) return;
      sub.dispose();
      resolve(r);
    });
    client.closed.then(() => reject(new Error(`Lost the connection to the daemon while run ${run.id} wrote its exports; \`anneal runs\` shows them.`)));
    // The exports may have ended before this listener was added: ask once.
    client.connection.sendRequest(GetRun.type, { runId: run.id }).then(({ run: r }) => {
      if (exportsPending(r.exports)) return;
      sub.dispose();
      resolve(r);
    }, () => {});
  });
}
