// The Runs view's top level: single runs as they are, and the runs of one pipeline gathered under one
// entry (its stages in order), placed where the pipeline's newest run sits. Pure (no vscode import):
// the tree provider turns these into TreeItems.
import type { RunInfo, RunStatus } from '../../../core/protocol/runs.ts';
import { relativeTime, type RunItemModel } from './runItem.ts';

export type RunsEntry = { kind: 'run'; run: RunInfo } | { kind: 'pipeline'; id: string; runs: RunInfo[] };

/** Runs in the model's order (newest first), a pipeline's runs folded into one entry at its newest run's place. */
export function groupRuns(runs: readonly RunInfo[]): RunsEntry[] {
  const out: RunsEntry[] = [];
  const groups = new Map<string, Extract<RunsEntry, { kind: 'pipeline' }>>();
  for (const run of runs) {
    if (!run.pipeline) {
      out.push({ kind: 'run', run });
      continue;
    }
    let group = groups.get(run.pipeline.id);
    if (!group) {
      group = { kind: 'pipeline', id: run.pipeline.id, runs: [] };
      groups.set(run.pipeline.id, group);
      out.push(group);
    }
    group.runs.push(run);
  }
  for (const g of groups.values()) g.runs.sort((a, b) => a.pipeline!.index - b.pipeline!.index || (a.createdAt < b.createdAt ? -1 : 1));
  return out;
}

const ICONS: Partial<Record<RunStatus, { id: string; color?: string }>> = {
  running: { id: 'sync~spin', color: 'charts.blue' },
  queued: { id: 'clock' },
  stopping: { id: 'debug-pause', color: 'charts.yellow' },
  failed: { id: 'error', color: 'errorForeground' },
  stopped: { id: 'debug-stop' },
  interrupted: { id: 'warning', color: 'list.warningForeground' },
};

/**
 * The entry of a pipeline, from its runs alone: its stages so far, where it is ("stage 2/3"), and the
 * state of its newest stage. A completed last stage means the pipeline completed; a completed earlier
 * stage with nothing after it means its gates stopped the pipeline (or the next stage is about to start).
 */
export function describePipeline(id: string, runs: readonly RunInfo[], now: Date): RunItemModel {
  const last = runs[runs.length - 1]!;
  const ref = last.pipeline!;
  const finished = last.status === 'completed' && ref.index + 1 === ref.count;
  const stalled = last.status === 'completed' && !finished;
  const state = finished ? 'completed' : stalled ? `after stage ${ref.index + 1}` : last.status;
  const names = runs.map((r) => r.pipeline!.name);
  return {
    label: `Pipeline · ${names.join(' → ')}${ref.count > names.length ? ' → …' : ''}`,
    description: [`stage ${ref.index + 1}/${ref.count}`, state, relativeTime(runs[0]!.startedAt ?? runs[0]!.createdAt, now)].filter(Boolean).join(' · '),
    tooltip: [
      `Pipeline ${id}: ${ref.count} stages, ${runs.length} started`,
      ...runs.map((r) => `${r.pipeline!.index + 1}. ${r.pipeline!.name} (${r.stage}): ${r.status}${r.outputDir && r.status === 'completed' ? ` → ${r.outputDir}` : ''}`),
      stalled ? `Stage ${ref.index + 1} completed and no later stage started: its gates stopped the pipeline, or the next stage is starting. \`anneal runs\` shows the pipeline's verdict.` : undefined,
    ].filter((s): s is string => Boolean(s)),
    icon: finished ? { id: 'pass-filled', color: 'testing.iconPassed' } : stalled ? { id: 'circle-slash', color: 'list.warningForeground' } : (ICONS[last.status] ?? { id: 'circle-outline' }),
    contextValue: 'anneal-pipeline',
  };
}
