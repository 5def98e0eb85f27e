// GRPO's rewards -> advantages step as TRL 1.16 computes it (trl/trainer/grpo_trainer.py,
// GRPOTrainer._generate_and_score_completions), and the reward metrics it logs there. Pure numbers:
// the rewards of one generation batch ([prompt 0 × G ; prompt 1 × G ; …] rows, one column per reward
// function, NaN where a function returned None) in, one advantage per completion out. Checked
// against TRL's own numbers in test/unit/engine/grpoGolden.test.ts (fixture: test/fixtures/trl/grpo.json).

/** TRL's `scale_rewards` (True means 'group', False 'none'). */
export type ScaleRewards = 'group' | 'batch' | 'none';
/** TRL's `multi_objective_aggregation`: weight-sum then normalise (GRPO), or normalise each function per group then sum (GDPO). */
export type RewardAggregation = 'sum_then_normalize' | 'normalize_then_sum';

export const SCALE_REWARDS: readonly ScaleRewards[] = ['group', 'batch', 'none'];
export const REWARD_AGGREGATIONS: readonly RewardAggregation[] = ['sum_then_normalize', 'normalize_then_sum'];

export interface AdvantageSettings {
  /** Completions per prompt (G); the batch's rows come in consecutive groups of G. */
  numGenerations: number;
  /** One weight per reward function (TRL's `reward_weights`, default all 1). */
  weights: readonly number[];
  scaleRewards: ScaleRewards;
  aggregation: RewardAggregation;
}

export interface GroupAdvantages {
  /** One per row; 0 for a row no reward function scored. */
  advantages: Float64Array;
  /** Each row's weighted reward sum (NaN where no function scored it): what the samples view shows. */
  totals: Float64Array;
  /** `reward`, `reward_std`, `rewards/<name>/mean|std`, `frac_reward_zero_std`, as TRL names them. */
  metrics: Record<string, number>;
}

/** Added to every standard deviation before dividing, as TRL does. */
const STD_FLOOR = 1e-4;

/** Mean ignoring NaN (torch.nanmean); NaN when every value is NaN. */
export function nanMean(xs: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isNaN(xs[i]!)) {
      sum += xs[i]!;
      n++;
    }
  }
  return n === 0 ? NaN : sum / n;
}

/** TRL's `nanstd`: the Bessel-corrected (n - 1) standard deviation ignoring NaN; NaN with fewer than 2 values. */
export function nanStd(xs: ArrayLike<number>): number {
  const mean = nanMean(xs);
  let squares = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isNaN(xs[i]!)) {
      squares += (xs[i]! - mean) ** 2;
      n++;
    }
  }
  return n > 1 ? Math.sqrt(squares / (n - 1)) : NaN;
}

/** The weighted sum per row ignoring NaN entries, NaN for a row every function left unscored. */
function weightedSums(rewards: readonly (readonly number[])[], weights: readonly number[]): Float64Array {
  return Float64Array.from(rewards, (row) => {
    let sum = 0;
    let scored = false;
    row.forEach((r, k) => {
      if (!Number.isNaN(r)) {
        scored = true;
        sum += r * weights[k]!;
      }
    });
    return scored ? sum : NaN;
  });
}

/** Each row's value of its group's statistic. */
function perGroup(values: Float64Array, g: number, stat: (group: Float64Array) => number): Float64Array {
  const out = new Float64Array(values.length);
  for (let start = 0; start < values.length; start += g) out.fill(stat(values.subarray(start, start + g)), start, start + g);
  return out;
}

/**
 * Advantages of one generation batch and TRL's reward metrics. `rewards` is [rows][functions] with
 * NaN for None; `names` are the reward functions' names (metric keys).
 */
export function grpoAdvantages(rewards: readonly (readonly number[])[], names: readonly string[], s: AdvantageSettings): GroupAdvantages {
  const rows = rewards.length;
  const g = s.numGenerations;
  if (rows % g !== 0) throw new Error(`the batch has ${rows} completions, not a whole number of groups of num_generations = ${g}.`);
  if (s.weights.length !== names.length) throw new Error(`reward_weights has ${s.weights.length} value(s) for ${names.length} reward function(s); give one weight per function.`);
  const sums = weightedSums(rewards, s.weights);
  let advantages: Float64Array;
  let std: Float64Array;
  if (s.aggregation === 'sum_then_normalize') {
    const mean = perGroup(sums, g, nanMean);
    // With scale_rewards 'none' the group std is still taken: it only feeds frac_reward_zero_std.
    std = s.scaleRewards === 'batch' ? new Float64Array(rows).fill(rows > 1 ? nanStd(sums) : 0) : g > 1 ? perGroup(sums, g, nanStd) : new Float64Array(rows);
    advantages = sums.map((r, i) => (s.scaleRewards === 'none' ? r - mean[i]! : (r - mean[i]!) / (std[i]! + STD_FLOOR)));
  } else {
    // GDPO: each function normalised within its group (scale_rewards plays no part), then weighted and summed,
    // then the sums normalised over the whole batch. Unscorable rows stay NaN.
    const combined = new Float64Array(rows);
    names.forEach((_, k) => {
      const column = Float64Array.from(rewards, (row) => row[k]!);
      const mean = perGroup(column, g, nanMean);
      const spread = g > 1 ? perGroup(column, g, nanStd) : new Float64Array(rows);
      column.forEach((x, i) => {
        const z = ((x - mean[i]!) / (spread[i]! + STD_FLOOR)) * s.weights[k]!;
        if (!Number.isNaN(z)) combined[i]! += z;
      });
    });
    sums.forEach((r, i) => Number.isNaN(r) && (combined[i] = NaN));
    std = new Float64Array(rows).fill(rows > 1 ? nanStd(combined) : 0);
    const mean = nanMean(combined);
    advantages = combined.map((r, i) => (r - mean) / (std[i]! + STD_FLOOR));
  }
  // Unscorable rows (and groups too small for a std) carry no signal: advantage 0, as nan_to_num makes it.
  advantages = advantages.map((a) => (Number.isNaN(a) ? 0 : a));

  const metrics: Record<string, number> = {};
  names.forEach((name, k) => {
    const column = rewards.map((row) => row[k]!);
    metrics[`rewards/${name}/mean`] = nanMean(column);
    metrics[`rewards/${name}/std`] = nanStd(column);
  });
  // Logged from the raw weighted sums even under normalize_then_sum; a NaN std (too few scores) is not "zero".
  metrics.reward = nanMean(sums);
  metrics.reward_std = nanStd(sums);
  metrics.frac_reward_zero_std = std.reduce((n, v) => n + (Math.abs(v) <= 1e-8 ? 1 : 0), 0) / rows;
  return { advantages, totals: sums, metrics };
}
