// A gate report line's outcome, from its wording ("exit loss 1.97 vs < 2.5: pass"), for its colour.

export type GateOutcome = 'pass' | 'fail' | 'advice' | 'other';

export function gateOutcome(line: string): GateOutcome {
  if (/:\s*(pass|passed|ok)\b/i.test(line)) return 'pass';
  // An advisory condition ("entry (advice) data/pairs 60 vs >= 1000: fail") is said, never enforced.
  if (/:\s*(fail|failed|held)\b/i.test(line)) return /\(advice\)/i.test(line) ? 'advice' : 'fail';
  return 'other';
}
