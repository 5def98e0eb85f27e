// A pipeline's entry conditions, checked before its first stage trains: seed 004's "不满足则不应进入下一
// 阶段" on what the data says up front (records, preference pairs). A stage whose blocking entry
// condition fails would only be held after training; the pipeline is refused instead, naming it.
import { evaluateGates } from '../gates/evaluate.ts';
import { readGates } from '../gates/recipe.ts';
import type { Stage } from '../recipe/types.ts';

const PAIR_STAGES: readonly Stage[] = ['dpo', 'orpo', 'cpo', 'simpo', 'reward'];

/**
 * The data facts the entry gates read, for data that passed the start checks: no errors and no pair
 * with chosen == rejected (both are refused), `records` records (pairs, for the preference stages).
 */
export function dataFacts(stage: Stage, records: number): Record<string, number> {
  return { 'data/records': records, 'data/errors': 0, ...(PAIR_STAGES.includes(stage) ? { 'data/pairs': records, 'data/identical_pairs': 0 } : {}) };
}

/** The stage's blocking entry conditions (seed 004's, edited by its `gates:`) that fail on `facts`, as report lines. */
export function failedEntryConditions(stage: Stage, gates: unknown, facts: Record<string, number>): string[] {
  const entry = readGates(stage, gates).gates.entry;
  const report = evaluateGates({ entry, exit: [], rollback: [] }, [], facts);
  return report.results.filter((r) => r.verdict === 'fail' && r.condition.severity !== 'advise').map((r) => r.line);
}
