// The numbers a preference run is judged by, shown large above the charts: how often the model
// prefers the chosen answer (`rewards/accuracies`) and by how much (`rewards/margins`), on the
// training batches and, when the run evaluates, on the eval set. A loss alone says little here: DPO's
// starts at ln 2 whatever the data, and KTO's and ORPO's mix in other terms. A GRPO run's number is
// its mean total reward (`reward`): what the policy is being pushed to raise.

import { formatValue } from './format.ts';
import type { Series } from './series.ts';

/**
 * Headline metrics in the order they are shown; a run shows those it reports (KTO has no accuracy; a
 * reward model logs its pairs' `accuracy` and `margin` under TRL's RewardTrainer names; GRPO `reward`).
 */
export const HEADLINE_METRICS = ['rewards/accuracies', 'rewards/margins', 'accuracy', 'margin', 'reward'] as const;

export interface HeadlineNumber {
  metric: string;
  /** The latest value, as the charts write it. */
  text: string;
  value: number;
  step: number;
}

/** One headline metric: its latest training value and, beside it, its latest eval value. */
export interface Headline {
  metric: string;
  train?: HeadlineNumber;
  eval?: HeadlineNumber;
}

function latest(series: ReadonlyMap<string, Series>, metric: string): HeadlineNumber | undefined {
  const s = series.get(metric);
  if (!s || s.last === undefined || s.lastStep === undefined) return undefined;
  return { metric, text: formatValue(s.last), value: s.last, step: s.lastStep };
}

/** The headline metrics the run reports, with their latest values (none for SFT and the other stages). */
export function headlines(series: ReadonlyMap<string, Series>): Headline[] {
  const out: Headline[] = [];
  for (const metric of HEADLINE_METRICS) {
    const train = latest(series, metric);
    const evaluated = latest(series, `eval/${metric}`);
    if (train || evaluated) out.push({ metric, ...(train && { train }), ...(evaluated && { eval: evaluated }) });
  }
  return out;
}
