// The words above the charts: what the run is doing, how far it is, and what the user can do next.

import { describePipelineRef } from '../../core/protocol/pipelines.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { formatDuration } from './eta.ts';

/** One line describing the run's state, e.g. "running · training · wasm (cpu)". */
export function statusText(run: RunInfo): string {
  const parts: string[] = [];
  switch (run.status) {
    case 'queued':
      parts.push('queued — waiting for a free slot');
      break;
    case 'interrupted':
      parts.push('interrupted — resume to continue');
      break;
    case 'stopped':
      parts.push(run.checkpoint ? `stopped at step ${run.checkpoint.step} — resume to continue` : 'stopped');
      break;
    case 'failed':
      parts.push(`failed: ${run.error ?? run.message ?? 'no reason recorded (see the run log)'}`);
      break;
    case 'stopping':
      parts.push('stopping — writing a checkpoint');
      break;
    default:
      parts.push(run.status);
  }
  if (run.status === 'running' && run.phase) parts.push(run.phase);
  if (run.backend) parts.push(`${run.backend.name} (${run.backend.device})`);
  if (run.status === 'running' && run.message && run.phase !== 'training') parts.push(run.message);
  return parts.join(' · ');
}

/** "step 120 / 400 · 3.2 steps/s · ETA 1 min 27 s" (parts that are unknown are left out). */
export function progressText(step: number, totalSteps: number | undefined, rate: number | undefined, eta: number | undefined, running: boolean): string {
  const parts = [totalSteps ? `step ${step} / ${totalSteps}` : `step ${step}`];
  if (running && rate !== undefined) parts.push(`${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} steps/s`);
  if (running && eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' · ');
}

/** Which buttons make sense for a run in this state. */
export function runActions(run: RunInfo): { canStop: boolean; canResume: boolean } {
  return {
    canStop: run.status === 'running' || run.status === 'queued',
    canResume: run.status === 'stopped' || run.status === 'failed' || run.status === 'interrupted',
  };
}

/** "stage 2/3 (dpo) of pipeline X" for a run that is a pipeline's stage, for the dashboard's header. */
export function pipelineText(run: RunInfo): string | undefined {
  return run.pipeline ? describePipelineRef(run.pipeline) : undefined;
}
