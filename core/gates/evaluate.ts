// Gates evaluated on what a run measured: each condition's statistic over its metric's stream (the
// run's metrics.jsonl records), compared with its threshold, into a report a user can read ("eval/kl
// 0.62 > 0.5: fail"). Also the rollback watch a running stage is checked against after every log: a
// NaN or infinite loss, a diverging loss, or a rollback condition that holds stops it at once.
import type { MetricRecord } from '../protocol/runs.ts';
import { compare, TREND_WINDOW, type GateCondition, type Statistic } from './condition.ts';
import { GATE_KINDS, type GateKind, type StageGates } from './defaults.ts';

export interface MetricPoint {
  step: number;
  value: number;
}

/** Each metric's values in step order (a record's `step` key is the x axis, not a metric). */
export function metricStreams(records: readonly MetricRecord[], extra: Record<string, number> = {}): Map<string, MetricPoint[]> {
  const out = new Map<string, MetricPoint[]>();
  for (const r of records) {
    for (const [name, value] of Object.entries(r)) {
      if (name === 'step' || typeof value !== 'number') continue;
      let s = out.get(name);
      if (!s) out.set(name, (s = []));
      s.push({ step: r.step, value });
    }
  }
  for (const [name, value] of Object.entries(extra)) out.set(name, [{ step: 0, value }]);
  return out;
}

/** Whether a smaller value of `metric` is the better one (losses, perplexities, divergences). */
export function lowerIsBetter(metric: string): boolean {
  return /loss|perplexity|(^|\/)kl$|clipped|zero_std|errors|identical/.test(metric);
}

/** The least-squares slope of the last TREND_WINDOW values, per logged point. */
function trend(values: number[]): number {
  const ys = values.slice(-TREND_WINDOW);
  const n = ys.length;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, v) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return den === 0 ? 0 : num / den;
}

/** The statistic of a stream; undefined when the stream is too short for it (a trend needs 2 points). */
export function statisticOf(points: readonly MetricPoint[] | undefined, stat: Statistic, metric: string): number | undefined {
  const values = (points ?? []).map((p) => p.value);
  if (values.length === 0) return undefined;
  switch (stat) {
    case 'last':
      return values.at(-1);
    case 'first':
      return values[0];
    case 'best':
      return lowerIsBetter(metric) ? Math.min(...values) : Math.max(...values);
    case 'mean':
      return values.reduce((a, v) => a + v, 0) / values.length;
    case 'change':
      return values.length < 2 || values[0] === 0 ? undefined : (values.at(-1)! - values[0]!) / Math.abs(values[0]!);
    case 'trend':
      return values.length < 2 ? undefined : trend(values);
  }
}

export type Verdict = 'pass' | 'fail' | 'not-measured';

export interface ConditionResult {
  kind: GateKind;
  condition: GateCondition;
  /** The statistic of the condition's own metric, when measured. */
  value?: number;
  /** Entry/exit: pass = the condition holds. Rollback: fail = it holds (roll back). */
  verdict: Verdict;
  /** One line: "eval/kl last 0.62 > 0.5: fail (KL divergence to the reference < 0.5)". */
  line: string;
}

export interface GateReport {
  results: ConditionResult[];
  /** No blocking entry or exit condition failed (conditions not measured do not block). */
  passed: boolean;
  /** The first rollback condition that held, if any. */
  rollback: ConditionResult | null;
}

const fmt = (v: number, stat: Statistic) => (stat === 'change' ? `${(v * 100).toFixed(1)}%` : Number(v.toPrecision(4)).toString());

/** Whether `c` (and its `while` clauses) holds on the streams; undefined when a metric was not measured. */
function holds(c: GateCondition, streams: Map<string, MetricPoint[]>): { value?: number; held?: boolean } {
  const value = statisticOf(streams.get(c.metric), c.statistic, c.metric);
  if (value === undefined || Number.isNaN(value)) return {};
  let held = compare(value, c.op, c.value);
  for (const w of c.while ?? []) {
    const other = holds(w, streams);
    if (other.held === undefined) return { value };
    held &&= other.held;
  }
  return { value, held };
}

function judge(kind: GateKind, c: GateCondition, streams: Map<string, MetricPoint[]>): ConditionResult {
  const { value, held } = holds(c, streams);
  const why = c.why ? ` (${c.why})` : '';
  if (held === undefined) {
    const missing = [c, ...(c.while ?? [])].filter((x) => statisticOf(streams.get(x.metric), x.statistic, x.metric) === undefined).map((x) => x.metric);
    return { kind, condition: c, ...(value !== undefined ? { value } : {}), verdict: 'not-measured', line: `${c.metric} ${c.text}: not measured (${missing.join(', ')} not logged${c.statistic === 'trend' || c.statistic === 'change' ? ' often enough' : ''})${why}` };
  }
  const verdict: Verdict = kind === 'rollback' ? (held ? 'fail' : 'pass') : held ? 'pass' : 'fail';
  const shown = `${c.metric} ${c.statistic === 'last' ? '' : `${c.statistic} `}${fmt(value!, c.statistic)}`;
  return { kind, condition: c, value, verdict, line: `${shown} vs ${c.text}: ${kind === 'rollback' ? (held ? 'roll back' : 'clear') : verdict}${why}` };
}

/** Every gate of a stage on its metrics (and `data`, the data facts: data/records, data/errors, ...). */
export function evaluateGates(gates: StageGates, records: readonly MetricRecord[], data: Record<string, number> = {}): GateReport {
  const streams = metricStreams(records, data);
  const results = GATE_KINDS.flatMap((kind) => gates[kind].map((c) => judge(kind, c, streams)));
  const blocking = results.filter((r) => r.kind !== 'rollback' && r.verdict === 'fail' && r.condition.severity !== 'advise');
  return { results, passed: blocking.length === 0, rollback: results.find((r) => r.kind === 'rollback' && r.verdict === 'fail') ?? null };
}

/** Logged points of the training loss before a rise counts as divergence (early noise is not). */
const DIVERGENCE_MIN_POINTS = 6;

/**
 * Why a running stage must roll back now, or null: a NaN or infinite loss; a diverging loss (the mean
 * of its last 3 values above twice its best and above where it started); or a rollback condition
 * that holds. Called after every logged step.
 */
export function rollbackNow(gates: StageGates, records: readonly MetricRecord[]): string | null {
  const streams = metricStreams(records);
  const loss = streams.get('loss') ?? [];
  const bad = loss.find((p) => !Number.isFinite(p.value));
  if (bad) return `the loss is ${bad.value} at step ${bad.step}: training broke down (lower the learning rate, check the data)`;
  if (loss.length >= DIVERGENCE_MIN_POINTS) {
    const values = loss.map((p) => p.value);
    const recent = values.slice(-3).reduce((a, v) => a + v, 0) / 3;
    const best = Math.min(...values);
    if (recent > 2 * best && recent > values[0]! && best > 0) {
      return `the loss is diverging: ${recent.toPrecision(4)} over the last 3 logs, more than twice its best ${best.toPrecision(4)} and above where it started (${values[0]!.toPrecision(4)}); lower the learning rate`;
    }
  }
  const triggered = gates.rollback.map((c) => judge('rollback', c, streams)).find((r) => r.verdict === 'fail');
  return triggered ? triggered.line : null;
}
