// Win rate of a model against a baseline on the same prompts, as judged pairwise. A judge that sees
// both answers in an order (an LLM judge, a user's judge module) may prefer whichever comes first, so
// each pair is judged twice with the positions swapped: a win needs the two verdicts to favour the
// model on balance (both, or one and a tie), a split is a tie (half a win). A scalar judge (a reward
// model scoring each answer alone) has no order to cancel.

/** One pairwise verdict: which of (first, second) is better, or a tie. */
export type Verdict = 'first' | 'second' | 'tie';

export interface PairOutcome {
  /** The model's answer against the baseline's: win, loss or tie after both orders. */
  outcome: 'win' | 'loss' | 'tie';
}

/** The outcome of the model's answer from the two verdicts: `modelFirst` (model shown first) and `baselineFirst`. */
export function pairOutcome(modelFirst: Verdict, baselineFirst: Verdict): PairOutcome['outcome'] {
  const modelWins = (modelFirst === 'first' ? 1 : modelFirst === 'tie' ? 0.5 : 0) + (baselineFirst === 'second' ? 1 : baselineFirst === 'tie' ? 0.5 : 0);
  return modelWins > 1 ? 'win' : modelWins < 1 ? 'loss' : 'tie';
}

/** The verdict of a scalar judge: the higher score wins. */
export function scoreVerdict(first: number, second: number): Verdict {
  return first > second ? 'first' : first < second ? 'second' : 'tie';
}

/** Wins plus half the ties, over all pairs; undefined with no pair. */
export function winRate(outcomes: readonly PairOutcome['outcome'][]): number | undefined {
  if (outcomes.length === 0) return undefined;
  return outcomes.reduce((a, o) => a + (o === 'win' ? 1 : o === 'tie' ? 0.5 : 0), 0) / outcomes.length;
}
