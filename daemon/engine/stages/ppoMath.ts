// PPO's numbers between the rollout and the loss, as TRL computes them inline in PPOTrainer.train()
// (trl/experimental/ppo/ppo_trainer.py, TRL 1.12.0, the last release with PPO): the padding masks, the
// per-token rewards (the KL penalty on every token, the reward model's score after the last one),
// optional reward whitening, GAE advantages and returns, advantage whitening, and the metrics TRL
// logs. Pure numbers: [B, T] arrays are row-major Float64Arrays over the rollout's responses
// right-padded to the longest (T). Checked against TRL in test/unit/engine/ppoGolden.test.ts
// (fixture: test/fixtures/trl/ppo.json, written by make_ppo_golden.py).

/** TRL's INVALID_LOGPROB: what log-probs (policy, reference, new) hold past a response's end, so their KL and log-ratio there are 0. */
export const INVALID_LOGPROB = 1;

/** The PPOConfig keys the rollout math reads (TRL's defaults in core/recipe/defaults.ts). */
export interface PpoRewardSettings {
  klCoef: number;
  klEstimator: 'k1' | 'k3';
  whitenRewards: boolean;
  /** Subtracted from the score of a response without EOS; null = none. */
  missingEosPenalty: number | null;
  gamma: number;
  lam: number;
}

/** One rollout as the policy, the reference, the value head and the reward model saw it. */
export interface PpoRolloutInputs {
  /** Tokens in each response, its EOS included (≥ 1). */
  lengths: readonly number[];
  /** Whether each response ended with EOS (TRL's contain_eos_token); the others were cut at response_length. */
  ended: readonly boolean[];
  /** Sampling policy's per-token log-probs [B, T] (values past a response's end are ignored). */
  logprobs: ArrayLike<number>;
  /** The reference's per-token log-probs [B, T]. */
  refLogprobs: ArrayLike<number>;
  /** The value head's value of the state before each response token [B, T]; one past the end too (the state after EOS). */
  values: ArrayLike<number>;
  /** The reward model's score per response. */
  scores: readonly number[];
}

export interface PpoRollout {
  B: number;
  T: number;
  /** Index of each response's last token (TRL's sequence_lengths). */
  sequenceLengths: Int32Array;
  /** 1 on response tokens (TRL's ~padding_mask): the policy loss, advantage whitening and objective/entropy. */
  valid: Float64Array;
  /** 1 up to one past each response's end (TRL's ~padding_mask_p1): the values and the value loss. */
  validP1: Float64Array;
  logprobs: Float64Array;
  refLogprobs: Float64Array;
  values: Float64Array;
  /** Scores after the missing-EOS penalty. */
  scores: Float64Array;
  kl: Float64Array;
  nonScoreReward: Float64Array;
  rewards: Float64Array;
  /** Whitened, 0 past each response. */
  advantages: Float64Array;
  returns: Float64Array;
  /** objective/kl, objective/entropy, objective/non_score_reward, objective/rlhf_reward, objective/scores, val/num_eos_tokens. */
  metrics: Record<string, number>;
}

/** TRL's masked_mean: Σ x·m / Σ m (NaN for an empty mask, as TRL's 0/0). */
export function maskedMean(x: ArrayLike<number>, mask: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < x.length; i++) {
    sum += x[i]! * mask[i]!;
    count += mask[i]!;
  }
  return sum / count;
}

/** TRL's masked_var: the masked mean square deviation, Bessel-corrected (n / (n − 1), n = Σ mask). */
export function maskedVar(x: ArrayLike<number>, mask: ArrayLike<number>): number {
  const mean = maskedMean(x, mask);
  const centred = Float64Array.from(x, (v) => (v - mean) ** 2);
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  if (n === 0) throw new Error('masked_var of an empty mask (no response token to whiten).');
  return (maskedMean(centred, mask) * n) / (n - 1);
}

/** TRL's masked_whiten: (x − mean)/sqrt(var + 1e-8) over the mask, the mean added back unless shiftMean. Applies to every entry. */
export function maskedWhiten(x: ArrayLike<number>, mask: ArrayLike<number>, shiftMean = true): Float64Array {
  const mean = maskedMean(x, mask);
  const scale = 1 / Math.sqrt(maskedVar(x, mask) + 1e-8);
  return Float64Array.from(x, (v) => (v - mean) * scale + (shiftMean ? 0 : mean));
}

/**
 * Generalised advantage estimation over each row, right to left (TRL's loop): δ_t = r_t + γ·V_{t+1} − V_t
 * (V_T = 0), A_t = δ_t + γλ·A_{t+1}. Returns [advantages, returns = advantages + values].
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, B: number, T: number, gamma: number, lam: number): [Float64Array, Float64Array] {
  const adv = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let last = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      const next = t < T - 1 ? values[i + 1]! : 0;
      last = rewards[i]! + gamma * next - values[i]! + gamma * lam * last;
      adv[i] = last;
    }
  }
  return [adv, adv.map((a, i) => a + values[i]!)];
}

const rowMean = (x: Float64Array, B: number, T: number) => {
  let sum = 0;
  for (let i = 0; i < B * T; i++) sum += x[i]!;
  return sum / B;
};

/** A rollout's rewards, advantages, returns and TRL's rollout metrics. */
export function ppoRollout(x: PpoRolloutInputs, s: PpoRewardSettings): PpoRollout {
  const B = x.lengths.length;
  const T = Math.max(1, ...x.lengths);
  const sequenceLengths = Int32Array.from(x.lengths, (n) => n - 1);
  const valid = new Float64Array(B * T);
  const validP1 = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      valid[b * T + t] = t <= sequenceLengths[b]! ? 1 : 0;
      validP1[b * T + t] = t <= sequenceLengths[b]! + 1 ? 1 : 0;
    }
  }
  const logprobs = Float64Array.from(valid, (v, i) => (v ? x.logprobs[i]! : INVALID_LOGPROB));
  const refLogprobs = Float64Array.from(valid, (v, i) => (v ? x.refLogprobs[i]! : INVALID_LOGPROB));
  const values = Float64Array.from(validP1, (v, i) => (v ? x.values[i]! : 0));
  const scores = Float64Array.from(x.scores, (v, b) => (s.missingEosPenalty !== null && !x.ended[b] ? v - s.missingEosPenalty : v));

  // k1 = log π − log π_ref; k3 = (e^r − 1) − r with r = log π_ref − log π (joschu.net/blog/kl-approx.html).
  const kl = logprobs.map((lp, i) => {
    const r = refLogprobs[i]! - lp;
    return s.klEstimator === 'k1' ? -r : Math.expm1(r) - r;
  });
  const nonScoreReward = kl.map((k) => -s.klCoef * k);
  let rewards = Float64Array.from(nonScoreReward);
  // The score goes one past the last token (where the KL is 0), or on the last token when that is the last column.
  for (let b = 0; b < B; b++) {
    const end = sequenceLengths[b]! + 1 < T ? sequenceLengths[b]! + 1 : sequenceLengths[b]!;
    rewards[b * T + end]! += scores[b]!;
  }
  if (s.whitenRewards) rewards = maskedWhiten(rewards, validP1, false).map((r, i) => (validP1[i] ? r : 0));
  const [raw, returns] = gae(rewards, values, B, T, s.gamma, s.lam);
  const advantages = maskedWhiten(raw, valid).map((a, i) => (valid[i] ? a : 0));

  const meanScore = scores.reduce((a, v) => a + v, 0) / B;
  const nonScore = rowMean(nonScoreReward, B, T);
  const metrics: Record<string, number> = {
    'objective/kl': rowMean(kl, B, T),
    'objective/entropy': rowMean(logprobs.map((lp, i) => -lp * valid[i]!), B, T),
    'objective/non_score_reward': nonScore,
    'objective/rlhf_reward': nonScore + meanScore,
    'objective/scores': meanScore,
    'val/num_eos_tokens': x.ended.filter(Boolean).length,
  };
  return { B, T, sequenceLengths, valid, validP1, logprobs, refLogprobs, values, scores, kl, nonScoreReward, rewards, advantages, returns, metrics };
}

/** One micro-batch's statistics, as TRL stores them in its stats tensors. */
export interface PpoMicroStats {
  approxkl: number;
  pgClipfrac: number;
  pgLoss: number;
  vfLoss: number;
  vfClipfrac: number;
  entropy: number;
  ratio: number;
}

/**
 * TRL's logged update metrics: the mean of each statistic over its (num_ppo_epochs, num_mini_batches,
 * gradient_accumulation_steps) tensor, and the unbiased variance of the ratio cells. TRL sizes the
 * tensor by gradient_accumulation_steps although a mini-batch holds only GAS / num_mini_batches
 * micro-batches, so with num_mini_batches > 1 the cells never written stay 0 and count: `cells` is
 * that full size, `stats` the micro-batches run.
 */
export function ppoUpdateMetrics(stats: readonly PpoMicroStats[], cells: number): Record<string, number> {
  const mean = (k: keyof PpoMicroStats) => stats.reduce((a, v) => a + v[k], 0) / cells;
  const ratioMean = mean('ratio');
  const squares = stats.reduce((a, v) => a + (v.ratio - ratioMean) ** 2, 0) + (cells - stats.length) * ratioMean ** 2;
  return {
    'policy/approxkl_avg': mean('approxkl'),
    'policy/clipfrac_avg': mean('pgClipfrac'),
    'loss/policy_avg': mean('pgLoss'),
    'loss/value_avg': mean('vfLoss'),
    'val/clipfrac_avg': mean('vfClipfrac'),
    'policy/entropy_avg': mean('entropy'),
    'val/ratio': ratioMean,
    'val/ratio_var': cells > 1 ? squares / (cells - 1) : NaN,
  };
}
