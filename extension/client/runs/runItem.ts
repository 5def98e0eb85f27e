// How one run appears in the Runs view: label, description, tooltip, icon and the context value the
// menus key on. Pure (no vscode import): the tree provider turns this into a TreeItem.
import type { RunInfo, RunStatus } from '../../../core/protocol/runs.ts';
import { describePipelineRef } from '../../../core/protocol/pipelines.ts';
import { formatLoss, formatStep } from '../statusText.ts';

export interface RunExtras {
  /** Lowest `eval/loss` seen for the run, when any was streamed. */
  bestEvalLoss?: number;
  /** Latest training loss seen. */
  lastLoss?: number;
}

export interface RunItemModel {
  label: string;
  description: string;
  tooltip: string[];
  /** A codicon id and the theme color to draw it in. */
  icon: { id: string; color?: string };
  /** Space-separated flags matched by `viewItem =~ /\bcan-stop\b/` in package.json menus. */
  contextValue: string;
}

const ICONS: Record<RunStatus, { id: string; color?: string }> = {
  queued: { id: 'clock' },
  running: { id: 'sync~spin', color: 'charts.blue' },
  stopping: { id: 'debug-pause', color: 'charts.yellow' },
  completed: { id: 'pass', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'errorForeground' },
  stopped: { id: 'debug-stop' },
  interrupted: { id: 'warning', color: 'list.warningForeground' },
};

/** "tiny" or the model folder's last path segment. */
export function modelName(model: string): string {
  if (model === 'tiny') return 'tiny';
  const parts = model.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? model;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", or the date for older times. */
export function relativeTime(iso: string | undefined, now: Date): string | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return undefined;
  const seconds = Math.max(0, (now.getTime() - t) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 7 * 86_400) return `${Math.floor(seconds / 86_400)} day${seconds < 2 * 86_400 ? '' : 's'} ago`;
  return new Date(t).toISOString().slice(0, 10);
}

/** The actions a run allows, as the daemon enforces them. */
export function runActions(status: RunStatus): { stop: boolean; resume: boolean; delete: boolean } {
  return {
    stop: status === 'queued' || status === 'running',
    resume: status === 'stopped' || status === 'failed' || status === 'interrupted',
    delete: status !== 'queued' && status !== 'running' && status !== 'stopping',
  };
}

/** Whether a run has weights to export (runs/export takes its output, else its newest checkpoint). */
export function exportable(run: Pick<RunInfo, 'status' | 'checkpoint'>): boolean {
  return run.status === 'completed' || ((run.status === 'stopped' || run.status === 'interrupted' || run.status === 'failed') && run.checkpoint !== undefined);
}

/** The Runs view entry for `run`. */
export function describeRun(run: RunInfo, extras: RunExtras, now: Date): RunItemModel {
  const actions = runActions(run.status);
  const description = [
    run.status === 'completed' || run.step > 0 || run.totalSteps ? formatStep(run.step, run.totalSteps) : run.status,
    extras.bestEvalLoss !== undefined ? `best eval ${formatLoss(extras.bestEvalLoss)}` : undefined,
    relativeTime(run.startedAt ?? run.createdAt, now),
  ].filter((s): s is string => Boolean(s));
  const tooltip = [
    `Run ${run.id}: ${run.status}${run.phase && run.status === 'running' ? ` (${run.phase})` : ''}`,
    run.pipeline ? `The ${describePipelineRef(run.pipeline)}` : undefined,
    `Stage ${run.stage.toUpperCase()}, model ${run.model}`,
    `Data ${run.data.train}${run.data.eval ? ` (eval ${run.data.eval})` : ''}`,
    run.recipe ? `Recipe ${run.recipe}` : undefined,
    formatStep(run.step, run.totalSteps),
    extras.lastLoss !== undefined ? `Loss ${formatLoss(extras.lastLoss)}` : undefined,
    extras.bestEvalLoss !== undefined ? `Best eval loss ${formatLoss(extras.bestEvalLoss)}` : undefined,
    run.backend ? `Backend ${run.backend.name} (${run.backend.device})` : undefined,
    run.startedAt ? `Started ${run.startedAt}` : `Created ${run.createdAt}`,
    run.endedAt ? `Ended ${run.endedAt}` : undefined,
    run.error ? `Error: ${run.error}` : run.message && run.status !== 'completed' ? run.message : undefined,
    run.status === 'interrupted' ? 'The daemon stopped under this run; Resume continues from its last checkpoint.' : undefined,
    run.outputDir ? `Output ${run.outputDir}` : undefined,
  ].filter((s): s is string => Boolean(s));
  const flags = ['anneal-run', `status-${run.status}`];
  if (actions.stop) flags.push('can-stop');
  if (actions.resume) flags.push('can-resume');
  if (actions.delete) flags.push('can-delete');
  if (run.outputDir) flags.push('has-output');
  if (exportable(run)) flags.push('can-export');
  return {
    // In a pipeline the model is the previous stage's output folder: its place says more.
    label: run.pipeline
      ? `${run.pipeline.index + 1}. ${run.stage.toUpperCase()}${run.pipeline.name !== run.stage ? ` (${run.pipeline.name})` : ''} · ${baseName(run.data.train)}`
      : `${run.stage.toUpperCase()} · ${modelName(run.model)} · ${baseName(run.data.train)}`,
    description: description.join(' · '),
    tooltip,
    icon: ICONS[run.status] ?? { id: 'circle-outline' },
    contextValue: flags.join(' '),
  };
}
