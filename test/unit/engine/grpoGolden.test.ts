// GRPO's numerics equal TRL: on TRL's own generation batch and tiny random model
// (test/fixtures/trl/grpo.json, written by make_grpo_golden.py with the pinned TRL), rewards become
// TRL's advantages and reward metrics for every scale_rewards and aggregation (None rewards, an
// unscorable row and a zero-std group included), and for every loss case — each loss type, token and
// sequence (GSPO) importance sampling, clip-higher, KL with and without bias correction, masked
// truncated completions, gradient accumulation — the engine's per-token log-probs, the loss, the
// metrics and the gradients equal TRL's. Measured (wasm and TensorFlow): advantages within 3.1e-7,
// per-token log-probs 5.3e-6 absolute (1.2e-6 relative), losses 2.6e-6 absolute (sums that nearly
// cancel, so a loss near 0 is further off relatively), gradients 4.5e-6 of each tensor's largest
// entry; the loss math alone, on TRL's own log-probs, within 3.4e-7 relative.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { completionLoss, sequenceBatch, type ScoredSequence, type SequenceBatch } from '../../../daemon/engine/logprobs.ts';
import type { LlamaModel } from '../../../daemon/engine/model.ts';
import { grpoAdvantages, type RewardAggregation, type ScaleRewards } from '../../../daemon/engine/stages/grpoAdvantages.ts';
import { completionGrid, completionGridValues, grpoLoss, grpoLossSettings, type GrpoLossKeys } from '../../../daemon/engine/stages/grpoLoss.ts';
import { useBackend } from './helpers.ts';
import { assertClose, assertGradients, FIXTURES, loadFixtureModel } from './trlFixtures.ts';

interface AdvantageCase {
  name: string;
  config: { scale_rewards: ScaleRewards; multi_objective_aggregation: RewardAggregation; reward_weights: number[]; num_generations: number };
  reward_funcs: string[];
  rewards: (number | null)[][];
  advantages: number[];
  metrics: Record<string, number | null>;
}

interface LossCase {
  name: string;
  config: GrpoLossKeys & { mask_truncated_completions?: boolean; steps_per_generation?: number };
  gradient_accumulation_steps: number;
  steps_per_generation: number;
  rows: number[];
  inputs: { completion_mask: number[][]; advantages: number[]; num_items_in_batch: number };
  loss: number;
  logps: { policy: number[][]; entropy: number[][]; old: number[][] | null; ref: number[][] | null };
  metrics: Record<string, number | null>;
  grads: Record<string, { shape: number[]; data: number[] }>;
  extra?: boolean;
}

interface GrpoGolden {
  trl_version: string;
  trainer_args: { num_generations: number; max_completion_length: number };
  examples: { prompts: number[][]; num_generations: number; completions: number[][]; truncated_row: number };
  advantage_cases: AdvantageCase[];
  loss_batch: { completion_ids: number[][]; completion_mask: number[][]; num_items_in_batch: number };
  cases: LossCase[];
}

const golden = JSON.parse(readFileSync(join(FIXTURES, 'grpo.json'), 'utf8')) as GrpoGolden;
const PAD = 0;
const EOS = 2;
const { prompts, completions, num_generations: G } = golden.examples;
const WIDTH = Math.max(...completions.map((c) => c.length));

before(() => useBackend());

/** JSON null (TRL's NaN) back to NaN. */
const nan = (v: number | null) => (v === null ? NaN : v);

test(`rewards become TRL ${golden.trl_version}'s advantages and reward metrics (${golden.advantage_cases.length} cases)`, () => {
  assert.ok(golden.advantage_cases.length >= 12);
  for (const c of golden.advantage_cases) {
    const rewards = c.rewards.map((row) => row.map(nan));
    const got = grpoAdvantages(rewards, c.reward_funcs, {
      numGenerations: c.config.num_generations,
      weights: c.config.reward_weights,
      scaleRewards: c.config.scale_rewards,
      aggregation: c.config.multi_objective_aggregation,
    });
    assertClose(got.advantages, c.advantages, 1e-6, `${c.name}: advantages`);
    assert.deepEqual(Object.keys(got.metrics).sort(), Object.keys(c.metrics).sort(), `${c.name}: metric names`);
    for (const [name, v] of Object.entries(c.metrics)) assertClose([got.metrics[name]!], [nan(v)], 1e-6, `${c.name}: ${name}`);
  }
});

/** The generation batch's rows as the engine scores them: prompt + completion, unpadded (right-padded by sequenceBatch). */
function rows(indices: number[]): ScoredSequence[] {
  return indices.map((r) => {
    const prompt = prompts[Math.floor(r / G)]!;
    return { ids: Int32Array.from([...prompt, ...completions[r]!]), completionStart: prompt.length };
  });
}

/** TRL's completion mask: 1 on each completion's tokens, a truncated one (no EOS at the end) zeroed when asked. */
function completionMask(indices: number[], maskTruncated: boolean): Float32Array {
  const mask = new Float32Array(indices.length * WIDTH);
  indices.forEach((r, i) => {
    const c = completions[r]!;
    const truncated = c[c.length - 1] !== EOS && c[c.length - 1] !== PAD;
    if (!(maskTruncated && truncated)) mask.fill(1, i * WIDTH, i * WIDTH + c.length);
  });
  return mask;
}

test(`the batch lays out as TRL's GRPO generation batch: right-padded completions, the masks and num_items_in_batch`, () => {
  const all = completions.map((_, r) => r);
  assert.deepEqual(golden.loss_batch.completion_ids, completions.map((c) => [...c, ...new Array<number>(WIDTH - c.length).fill(PAD)]));
  assert.deepEqual(Array.from(completionMask(all, false)), golden.loss_batch.completion_mask.flat());
  for (const c of golden.cases) {
    const mask = completionMask(c.rows, c.config.mask_truncated_completions === true);
    assert.deepEqual(Array.from(mask), c.inputs.completion_mask.flat(), `${c.name}: completion_mask`);
    assert.equal(c.inputs.num_items_in_batch, Array.from(completionMask(all, c.config.mask_truncated_completions === true)).reduce((a, b) => a + b), `${c.name}: num_items_in_batch`);
  }
});

/** The reference model's per-token log-probs [B * WIDTH] (no gradient). */
function referenceLogps(ref: LlamaModel, b: SequenceBatch, lengths: number[]): Float32Array {
  let out: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    completionLoss(ref, b, { frozenBase: true }, (lp) => {
      out = completionGridValues(lp.tokens.dataSync(), lengths, WIDTH);
      return tf.scalar(0);
    });
  });
  return out;
}

/** Compares TRL's per-token values with ours where the mask counts (TRL leaves 0 elsewhere). */
function assertMasked(got: ArrayLike<number>, expected: number[][], mask: ArrayLike<number>, tol: number, what: string) {
  const flat = expected.flat();
  const keep = flat.map((_, i) => i).filter((i) => mask[i]! > 0);
  assertClose(keep.map((i) => got[i]!), keep.map((i) => flat[i]!), tol, what);
}

test(`every GRPO loss case equals TRL: loss, per-token log-probs, metrics and gradients (${golden.cases.length} cases)`, () => {
  assert.ok(golden.cases.length >= 15);
  const policy = loadFixtureModel('policy');
  const ref = loadFixtureModel('ref', false);
  const vars = [...policy.params.values()];
  const names = new Map([...policy.params].map(([n, v]) => [v.name, n]));
  for (const c of golden.cases) {
    const settings = grpoLossSettings({ max_completion_length: golden.trainer_args.max_completion_length, ...c.config });
    const b = sequenceBatch(rows(c.rows), PAD);
    const lengths = c.rows.map((r) => completions[r]!.length);
    const mask = Float32Array.from(c.inputs.completion_mask.flat());
    let refLogps: Float32Array | null = null;
    if (c.logps.ref) {
      refLogps = referenceLogps(ref, b, lengths);
      assertMasked(refLogps, c.logps.ref, mask, 1e-5, `${c.name}: reference log-probs`);
    }
    let logps: Float32Array = new Float32Array(0);
    let entropies: Float32Array = new Float32Array(0);
    let metrics: Record<string, number> = {};
    const { value, grads } = tf.variableGrads(
      () =>
        completionLoss(policy, b, { frozenBase: false, want: ['entropy'] }, (lp) => {
          const grid = completionGrid(lp.tokens, lengths, WIDTH);
          logps = grid.dataSync() as Float32Array;
          entropies = completionGridValues(lp.stats.entropy!.dataSync(), lengths, WIDTH);
          const out = grpoLoss(
            {
              logps: grid,
              mask,
              advantages: c.inputs.advantages,
              oldLogps: c.logps.old ? c.logps.old.flat() : null,
              refLogps,
              entropies,
              numItemsInBatch: c.inputs.num_items_in_batch,
              gradientAccumulationSteps: c.gradient_accumulation_steps,
              stepsPerGeneration: c.steps_per_generation,
            },
            settings,
          );
          metrics = out.metrics;
          return out.loss;
        }),
      vars,
    );
    const loss = value.dataSync()[0]!;
    value.dispose();
    assertMasked(logps, c.logps.policy, mask, 1e-5, `${c.name}: per-token log-probs`);
    assertMasked(entropies, c.logps.entropy, mask, 1e-5, `${c.name}: per-token entropies`);
    assertClose([loss], [c.loss], 1e-5, `${c.name}: loss`);
    assert.deepEqual(Object.keys(metrics).sort(), Object.keys(c.metrics).sort(), `${c.name}: metric names`);
    for (const [name, v] of Object.entries(c.metrics)) assertClose([metrics[name]!], [nan(v)], 1e-5, `${c.name}: ${name}`);
    const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
    assertGradients(byName, c.grads, 1e-4);
    for (const g of Object.values(grads)) g.dispose();
  }
});

test("the loss math alone: on TRL's own per-token log-probs, every case's loss and metrics equal TRL's to 1e-6 relative (1e-7 absolute below 0.1)", () => {
  for (const c of golden.cases) {
    const settings = grpoLossSettings({ max_completion_length: golden.trainer_args.max_completion_length, ...c.config });
    const { loss, metrics } = tf.tidy(() => {
      const out = grpoLoss(
        {
          logps: tf.tensor2d(c.logps.policy),
          mask: c.inputs.completion_mask.flat(),
          advantages: c.inputs.advantages,
          oldLogps: c.logps.old ? c.logps.old.flat() : null,
          refLogps: c.logps.ref ? c.logps.ref.flat() : null,
          entropies: c.logps.entropy.flat(),
          numItemsInBatch: c.inputs.num_items_in_batch,
          gradientAccumulationSteps: c.gradient_accumulation_steps,
          stepsPerGeneration: c.steps_per_generation,
        },
        settings,
      );
      return { loss: out.loss.dataSync()[0]!, metrics: out.metrics };
    });
    // Relative, except that sums which cancel to below 0.1 are held to 1e-7 absolute (float32 summation order).
    const relative = (got: number, want: number, what: string) =>
      assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(Math.abs(want), 0.1) || (Number.isNaN(got) && Number.isNaN(want)), `${c.name}: ${what} ${got} vs TRL ${want}`);
    relative(loss, c.loss, 'loss');
    for (const [name, v] of Object.entries(c.metrics)) relative(metrics[name]!, nan(v), name);
  }
});
