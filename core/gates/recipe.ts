// A recipe's `gates:` block read onto seed 004's defaults, with every problem located for the editor:
//   gates:
//     exit:     { eval/loss: "< 1.5", eval/win_rate: off }   # edit or switch off a default
//     rollback: { kl: "> 1.0" }
//     entry:    { data/records: ">= 200" }
//     defaults: false                                        # start from no gate at all
// A flat mapping (`gates: {eval/loss: "< 1.5"}`) is a list of exit conditions.
import type { Stage } from '../recipe/types.ts';
import { parseCondition, type GateCondition } from './condition.ts';
import { defaultGates, GATE_KINDS, type GateKind, type StageGates } from './defaults.ts';
import { closest } from '../recipe/suggest.ts';
import { isFraction, isKnownMetric, knownMetrics } from './metrics.ts';

export interface GateProblem {
  /** The key path in the recipe: ['gates', 'exit', 'eval/loss']. */
  path: (string | number)[];
  message: string;
  severity: 'error' | 'warning';
  /** Where on the path: the key, or its value. */
  on: 'key' | 'value';
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The stage's gates: seed 004's, edited by the recipe's block. */
export function readGates(stage: Stage, raw: unknown): { gates: StageGates; problems: GateProblem[] } {
  const problems: GateProblem[] = [];
  if (raw === undefined || raw === null) return { gates: defaultGates(stage), problems };
  if (!isObj(raw)) {
    problems.push({ path: ['gates'], message: '`gates` must be a mapping: `exit:`, `rollback:` and `entry:`, each of metric: "condition".', severity: 'error', on: 'value' });
    return { gates: defaultGates(stage), problems };
  }
  const sectioned = Object.keys(raw).some((k) => (GATE_KINDS as string[]).includes(k) || k === 'defaults');
  const sections: Partial<Record<GateKind, unknown>> = sectioned ? raw : { exit: raw };
  const useDefaults = raw.defaults !== false;
  if (sectioned && raw.defaults !== undefined && typeof raw.defaults !== 'boolean') {
    problems.push({ path: ['gates', 'defaults'], message: '`defaults` is true (start from seed 004\'s gates, the default) or false (only the gates written here).', severity: 'error', on: 'value' });
  }
  const gates: StageGates = useDefaults ? defaultGates(stage) : { entry: [], exit: [], rollback: [] };
  if (sectioned) {
    for (const key of Object.keys(raw)) {
      if (key !== 'defaults' && !(GATE_KINDS as string[]).includes(key)) {
        problems.push({ path: ['gates', key], message: `\`${key}\` is not a gate kind; use entry, exit or rollback (or defaults: false).`, severity: 'error', on: 'key' });
      }
    }
  }
  for (const kind of GATE_KINDS) {
    const section = sections[kind];
    if (section === undefined) continue;
    const at = sectioned ? ['gates', kind] : ['gates'];
    if (!isObj(section)) {
      problems.push({ path: at, message: `\`${kind}\` must map metric names to conditions, e.g. {eval/loss: "< 1.5"}.`, severity: 'error', on: 'value' });
      continue;
    }
    for (const [metric, value] of Object.entries(section)) {
      const path = [...at, metric];
      const list = gates[kind];
      const existing = list.findIndex((c) => c.metric === metric);
      if (value === 'off' || value === false) {
        if (existing >= 0) list.splice(existing, 1);
        else problems.push({ path, message: `No default ${kind} gate on ${metric} to switch off.`, severity: 'warning', on: 'key' });
        continue;
      }
      if (typeof value !== 'string') {
        problems.push({ path, message: `Write the condition as text, e.g. ${metric}: "< 1.5" (or off).`, severity: 'error', on: 'value' });
        continue;
      }
      const c = parseCondition(metric, value);
      if (typeof c === 'string') {
        problems.push({ path, message: c, severity: 'error', on: 'value' });
        continue;
      }
      for (const m of [c, ...(c.while ?? [])]) checkMetric(stage, m, path, problems);
      if (existing >= 0) list[existing] = edited(list[existing]!, c);
      else list.push(c);
    }
  }
  return { gates, problems };
}

/**
 * A default condition the recipe rewrote: the default's reason stays only when the condition is still
 * the same; a changed threshold says whose it is (a reason like "preference data > 1k pairs" printed
 * beside ">= 100" would contradict the line it explains).
 */
function edited(old: GateCondition, c: GateCondition): GateCondition {
  const same = sameCondition(old, c);
  const why = same ? old.why : `the recipe's threshold; seed 004's is ${old.text}`;
  return { ...c, ...(why ? { why } : {}) };
}

function sameCondition(a: GateCondition, b: GateCondition): boolean {
  const own = (c: GateCondition) => `${c.metric} ${c.statistic} ${c.op} ${c.value}`;
  const all = (c: GateCondition) => [c, ...(c.while ?? [])].map(own).join(' & ');
  return all(a) === all(b);
}

function checkMetric(stage: Stage, c: GateCondition, path: (string | number)[], problems: GateProblem[]): void {
  if (!isKnownMetric(stage, c.metric)) {
    const near = closest(c.metric, knownMetrics(stage));
    problems.push({ path, message: `Stage ${stage} never logs \`${c.metric}\`, so this gate could only read "not measured"${near ? `; did you mean \`${near}\`?` : '.'}`, severity: 'warning', on: 'key' });
  }
  if (c.statistic !== 'trend' && c.statistic !== 'change' && isFraction(c.metric)) {
    const impossible = (c.op.startsWith('>') && (c.value > 1 || (c.op === '>' && c.value === 1))) || (c.op.startsWith('<') && (c.value < 0 || (c.op === '<' && c.value === 0)));
    if (impossible) problems.push({ path, message: `\`${c.metric}\` lies between 0 and 1, so "${c.text}" can never hold; did you mean ${c.value > 1 ? `${c.value / 100} (a fraction, not a percentage)` : 'another threshold'}?`, severity: 'error', on: 'value' });
  }
}
