// What the daemon status bar item says. Pure: built from plain data so it is unit-tested.
import type { BackendInfo, RunInfo } from '../../core/protocol/runs.ts';

export type DaemonState = 'off' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

export interface StatusInput {
  state: DaemonState;
  /** True for a daemon reached by URL (settings), false for the local one. */
  remote: boolean;
  backend: BackendInfo | null | undefined;
  /** The run to show: the running one, else the most recent. */
  run?: Pick<RunInfo, 'id' | 'status' | 'step' | 'totalSteps' | 'stage'>;
  /** The run's latest training loss. */
  loss?: number;
  /** Why the connection failed, for the tooltip. */
  reason?: string;
}

/** "wasm", "CUDA", "CPU": a short name for the backend a run got. */
export function backendLabel(backend: BackendInfo | null | undefined): string | undefined {
  if (!backend) return undefined;
  // Names from the engine's backend ladder (daemon/engine/backend.ts BACKEND_NAMES).
  switch (backend.name) {
    case 'tensorflow-gpu':
      return 'CUDA';
    case 'webgpu':
      return 'WebGPU';
    case 'tensorflow':
      return 'CPU (native)';
    case 'wasm':
      return 'wasm';
    case 'cpu':
      return 'CPU';
    case 'trl':
      // The TRL engine's report ("TRL 1.16.0 on 8× NVIDIA H100, DeepSpeed ZeRO-2"), without the version.
      return backend.device.replace(/^TRL \S+ on /, 'TRL · ');
    default:
      return backend.name;
  }
}

/** Formats a loss to 4 significant digits ("1.532", "0.04812"). */
export function formatLoss(loss: number): string {
  if (!Number.isFinite(loss)) return String(loss);
  return loss.toPrecision(4).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

/** "step 120/400" or "step 120". */
export function formatStep(step: number, total?: number): string {
  return total && total > 0 ? `step ${step}/${total}` : `step ${step}`;
}

const ACTIVE = new Set(['queued', 'running', 'stopping']);

/** The status bar's text (with a codicon) and tooltip lines. */
export function daemonStatusText(input: StatusInput): { text: string; tooltip: string[] } {
  const where = input.remote ? 'remote daemon' : 'daemon';
  const tooltip: string[] = [];
  switch (input.state) {
    case 'off':
      return { text: '$(circle-slash) Anneal', tooltip: [`No Anneal ${where} is running. Click to start it, or train: it starts on demand.`] };
    case 'connecting':
      return { text: '$(sync~spin) Anneal', tooltip: [`Connecting to the Anneal ${where}…`] };
    case 'reconnecting':
      return {
        text: '$(debug-disconnect) Anneal: reconnecting',
        tooltip: [`Lost the Anneal ${where}; reconnecting.`, ...(input.reason ? [input.reason] : [])],
      };
    case 'failed':
      return {
        text: '$(error) Anneal',
        tooltip: [input.reason ?? `Cannot reach the Anneal ${where}.`, 'Click for the daemon log and actions.'],
      };
    case 'connected':
      break;
  }
  const backend = backendLabel(input.backend);
  const parts = ['Anneal'];
  if (backend) parts.push(backend);
  tooltip.push(`Connected to the Anneal ${where}${backend ? ` (backend ${backend})` : ''}.`);
  const run = input.run;
  if (run && ACTIVE.has(run.status)) {
    const icon = run.status === 'queued' ? '$(clock)' : '$(loading~spin)';
    parts.push(formatStep(run.step, run.totalSteps));
    if (input.loss !== undefined) parts.push(`loss ${formatLoss(input.loss)}`);
    tooltip.push(`Run ${run.id} (${run.stage}) is ${run.status}. Click for the dashboard.`);
    return { text: `${icon} ${parts.join(' · ')}`, tooltip };
  }
  if (run) tooltip.push(`Last run ${run.id}: ${run.status}. Click for the dashboard.`);
  else tooltip.push('No runs yet: open a dataset and run "Anneal: Train SFT".');
  return { text: `$(pulse) ${parts.join(' · ')}`, tooltip };
}
