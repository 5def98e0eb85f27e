// The dashboard's model: for each run shown, its record and every metric point received. Updated by
// the daemon's notifications through `applyNotification`; the DOM reads it on the next frame.

import { RunMetricsNotification, RunStatusNotification } from '../../core/protocol/daemon.ts';
import type { MetricRecord, RunInfo } from '../../core/protocol/runs.ts';
import { recordArrival, type StepArrival } from './eta.ts';
import { Series } from './series.ts';

export class RunMetrics {
  readonly series = new Map<string, Series>();
  run: RunInfo | undefined;
  /** Highest step of any metric received (undefined before the first). */
  lastStep: number | undefined;
  /** Live arrivals for the speed and ETA (not replayed history). */
  arrivals: StepArrival[] = [];
  /** Bumped on every change. */
  version = 0;

  constructor(readonly runId: string) {}

  /** Adds one logged step; non-numeric fields are ignored (records may carry more than numbers). */
  add(record: MetricRecord, live: boolean, now: number): void {
    const step = record.step;
    if (typeof step !== 'number' || !Number.isFinite(step)) return;
    // A step before the last one: a resumed run is redoing the steps after its checkpoint.
    if (this.lastStep !== undefined && step < this.lastStep) this.truncateFrom(step);
    for (const [name, value] of Object.entries(record)) {
      if (name === 'step' || typeof value !== 'number') continue;
      let series = this.series.get(name);
      if (!series) this.series.set(name, (series = new Series()));
      series.push(step, value);
    }
    this.lastStep = this.lastStep === undefined ? step : Math.max(this.lastStep, step);
    if (live) this.arrivals = recordArrival(this.arrivals, { t: now, step });
    this.version++;
  }

  /** Drops every point with step >= `step` (before a replay from that step). */
  truncateFrom(step: number): void {
    for (const series of this.series.values()) series.truncateFrom(step);
    let last: number | undefined;
    for (const series of this.series.values()) {
      const s = series.lastStep;
      if (s !== undefined && (last === undefined || s > last)) last = s;
    }
    this.lastStep = last;
    this.version++;
  }

  setRun(run: RunInfo): void {
    this.run = run;
    this.version++;
  }
}

export class MetricStore {
  readonly runs = new Map<string, RunMetrics>();

  /** The run's metrics, created on first use. */
  run(runId: string): RunMetrics {
    let r = this.runs.get(runId);
    if (!r) this.runs.set(runId, (r = new RunMetrics(runId)));
    return r;
  }

  /** Forgets a run no longer shown. */
  drop(runId: string): void {
    this.runs.delete(runId);
  }
}

/**
 * Applies one daemon notification. `live` is false while a subscription's history replays (the
 * points count, the speed does not). Returns the run id it changed, or undefined when it was not ours.
 */
export function applyNotification(store: MetricStore, method: string, params: unknown, live: boolean, now: number): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as Record<string, unknown>;
  if (method === RunMetricsNotification.method) {
    const runId = p.runId;
    const record = p.record as MetricRecord | undefined;
    if (typeof runId !== 'string' || !store.runs.has(runId) || typeof record !== 'object' || record === null) return undefined;
    if (typeof record.step !== 'number' || !Number.isFinite(record.step)) return undefined;
    store.run(runId).add(record, live, now);
    return runId;
  }
  if (method === RunStatusNotification.method) {
    const run = p.run as RunInfo | undefined;
    if (!run || typeof run.id !== 'string' || !store.runs.has(run.id)) return undefined;
    store.run(run.id).setRun(run);
    return run.id;
  }
  return undefined;
}
