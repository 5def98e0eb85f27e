// PPO's numerics equal TRL's (test/fixtures/trl/ppo.json, written by make_ppo_golden.py from TRL 1.12.0,
// the last release with PPO): on a fixed rollout (a response ending in EOS mid-row, one cut without
// EOS, one that is only EOS, one ending in EOS at the last column) the masks, KL (k1, k3), per-token
// rewards with the score placed where TRL places it, the missing-EOS penalty, reward and advantage
// whitening, GAE advantages and returns and the objective/* metrics equal TRL's; on every micro-batch
// of TRL's PPO-epoch loop the new log-probs, the clipped policy and value losses, the statistics and
// the gradients (to the logits and the value predictions) equal TRL's, and so do the logged averages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { ppoLoss } from '../../../daemon/engine/stages/ppoLoss.ts';
import { ppoRollout, ppoUpdateMetrics, type PpoMicroStats, type PpoRollout } from '../../../daemon/engine/stages/ppoMath.ts';
import { useBackend } from './helpers.ts';
import { FIXTURES } from './trlFixtures.ts';

type Grid = number[][];
interface Config {
  kl_coef: number;
  kl_estimator: 'k1' | 'k3';
  whiten_rewards: boolean;
  missing_eos_penalty: number | null;
  gamma: number;
  lam: number;
  cliprange: number;
  cliprange_value: number;
  vf_coef: number;
  num_ppo_epochs: number;
  num_mini_batches: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  temperature: number;
}
interface MicroBatchCase {
  indices: number[];
  epoch: number;
  new_logits: number[][][];
  vpred: Grid;
  new_logprobs: Grid;
  entropy: Grid;
  loss: number;
  stats: { approxkl: number; pg_clipfrac: number; pg_loss: number; vf_loss: number; vf_clipfrac: number; entropy: number; ratio: number };
  grads: { new_logits: number[][][]; vpred: Grid };
}
interface Case {
  name: string;
  config: Config;
  rollout: {
    sequence_lengths: number[];
    contain_eos_token: boolean[];
    padding_mask: boolean[][];
    padding_mask_p1: boolean[][];
    logprobs: Grid;
    ref_logprobs: Grid;
    values: Grid;
    scores: number[];
    kl: Grid;
    non_score_reward: Grid;
    rewards: Grid;
    advantages: Grid;
    returns: Grid;
  };
  micro_batches: MicroBatchCase[];
  metrics: Record<string, number | null>;
}
interface PpoGolden {
  trl_version: string;
  constants: { eos_token_id: number; pad_token_id: number; vocab: number };
  inputs: { responses: Grid; logprobs: Grid; ref_logprobs: Grid; values: Grid; scores: number[] };
  cases: Case[];
}

const golden = JSON.parse(readFileSync(join(FIXTURES, 'ppo.json'), 'utf8')) as PpoGolden;
const { eos_token_id: EOS, pad_token_id: PAD, vocab: V } = golden.constants;
const nan = (v: number | null) => (v === null ? NaN : v);

/** The worst absolute difference seen per kind, reported at the end (the figures in the fixture README). */
const worst: Record<string, number> = {};
function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, kind: string, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (Number.isNaN(want[i]!) && Number.isNaN(got[i]!)) continue;
    worst[kind] = Math.max(worst[kind] ?? 0, Number.isNaN(d) ? Infinity : d);
    assert.ok(d <= tol * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs TRL ${want[i]} (|Δ| ${d.toExponential(2)} > ${tol})`);
  }
}

before(() => useBackend());

/** TRL's responses as the engine has them: each completion's tokens up to its EOS, and whether it has one. */
const responses = golden.inputs.responses.map((row) => {
  const eos = row.indexOf(EOS);
  return eos >= 0 ? row.slice(0, eos + 1) : row.filter((t) => t !== PAD);
});

function rollout(c: Case): PpoRollout {
  return ppoRollout(
    {
      lengths: responses.map((r) => r.length),
      ended: responses.map((r) => r[r.length - 1] === EOS),
      logprobs: golden.inputs.logprobs.flat(),
      refLogprobs: golden.inputs.ref_logprobs.flat(),
      values: golden.inputs.values.flat(),
      scores: golden.inputs.scores,
    },
    { klCoef: c.config.kl_coef, klEstimator: c.config.kl_estimator, whitenRewards: c.config.whiten_rewards, missingEosPenalty: c.config.missing_eos_penalty, gamma: c.config.gamma, lam: c.config.lam },
  );
}

test(`a rollout becomes TRL ${golden.trl_version}'s masks, KL, rewards, advantages, returns and objective metrics (${golden.cases.length} cases)`, () => {
  assert.ok(golden.cases.length >= 3);
  for (const c of golden.cases) {
    const r = rollout(c);
    const e = c.rollout;
    assert.deepEqual(Array.from(r.sequenceLengths), e.sequence_lengths, `${c.name}: sequence_lengths`);
    assert.deepEqual(Array.from(r.valid), e.padding_mask.flat().map((p) => (p ? 0 : 1)), `${c.name}: padding_mask`);
    assert.deepEqual(Array.from(r.validP1), e.padding_mask_p1.flat().map((p) => (p ? 0 : 1)), `${c.name}: padding_mask_p1`);
    close(r.logprobs, e.logprobs.flat(), 0, 'inputs', `${c.name}: logprobs`);
    close(r.refLogprobs, e.ref_logprobs.flat(), 1e-7, 'inputs', `${c.name}: ref_logprobs`);
    close(r.values, e.values.flat(), 0, 'inputs', `${c.name}: values`);
    close(r.scores, e.scores, 1e-7, 'rollout', `${c.name}: scores`);
    close(r.kl, e.kl.flat(), 1e-6, 'rollout', `${c.name}: kl`);
    close(r.nonScoreReward, e.non_score_reward.flat(), 1e-6, 'rollout', `${c.name}: non_score_reward`);
    close(r.rewards, e.rewards.flat(), 1e-6, 'rollout', `${c.name}: rewards`);
    close(r.advantages, e.advantages.flat(), 1e-6, 'rollout', `${c.name}: advantages`);
    close(r.returns, e.returns.flat(), 1e-6, 'rollout', `${c.name}: returns`);
    for (const [name, v] of Object.entries(c.metrics)) {
      if (name in r.metrics) close([r.metrics[name]!], [nan(v)], 1e-6, 'metrics', `${c.name}: ${name}`);
    }
  }
});

/** The rows `indices` of a [B, T] array. */
const rowsOf = (x: ArrayLike<number>, indices: number[], T: number) => indices.flatMap((b) => Array.from(x).slice(b * T, (b + 1) * T));

test('every micro-batch of TRL\'s PPO loop: new log-probs, loss, statistics and gradients; then the logged averages', () => {
  for (const c of golden.cases) {
    const r = rollout(c);
    const T = r.T;
    const settings = { cliprange: c.config.cliprange, cliprangeValue: c.config.cliprange_value, vfCoef: c.config.vf_coef };
    const stats: PpoMicroStats[] = [];
    c.micro_batches.forEach((m, k) => {
      const what = `${c.name} micro-batch ${k}`;
      const mb = m.indices.length;
      const valid = rowsOf(r.valid, m.indices, T);
      const tokens = tf.tensor2d(m.indices.flatMap((b) => golden.inputs.responses[b]!), [mb, T], 'int32');
      const logits = tf.tensor3d(m.new_logits);
      const vpred = tf.tensor2d(m.vpred);
      let newLogps: Float32Array = new Float32Array(0);
      let entropy: Float32Array = new Float32Array(0);
      let out: ReturnType<typeof ppoLoss> | null = null;
      // What the engine's LM head computes: log-softmax of logits / temperature at the response tokens
      // (TRL divides by temperature + 1e-7, a 1.4e-7 relative difference, kept here to compare exactly).
      const f = (lg: tf.Tensor, vp: tf.Tensor) => {
        const logp = tf.logSoftmax(tf.div(lg, c.config.temperature + 1e-7));
        const picked = tf.sum(tf.mul(logp, tf.oneHot(tokens, V)), 2) as tf.Tensor2D;
        newLogps = picked.dataSync() as Float32Array;
        entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 2)).dataSync() as Float32Array;
        out = ppoLoss(
          {
            logps: picked,
            vpred: vp as tf.Tensor2D,
            oldLogps: rowsOf(r.logprobs, m.indices, T),
            advantages: rowsOf(r.advantages, m.indices, T),
            returns: rowsOf(r.returns, m.indices, T),
            values: rowsOf(r.values, m.indices, T),
            valid,
            validP1: rowsOf(r.validP1, m.indices, T),
          },
          settings,
        );
        return out.loss;
      };
      const { value, grads } = tf.valueAndGrads(f)([logits, vpred]);
      const got = out!;
      close(Array.from(newLogps).filter((_, i) => valid[i]), m.new_logprobs.flat().filter((_, i) => valid[i]), 1e-5, 'log-probs', `${what}: new log-probs`);
      close(entropy, m.entropy.flat(), 1e-5, 'log-probs', `${what}: entropy`);
      close([value.dataSync()[0]!], [m.loss], 1e-5, 'loss', `${what}: loss`);
      const s: PpoMicroStats = { ...got.stats, entropy: mean(entropy) };
      const e = m.stats;
      close([s.pgLoss, s.vfLoss], [e.pg_loss, e.vf_loss], 1e-5, 'loss', `${what}: pg_loss, vf_loss`);
      close([s.approxkl, s.pgClipfrac, s.vfClipfrac, s.entropy, s.ratio], [e.approxkl, e.pg_clipfrac, e.vf_clipfrac, e.entropy, e.ratio], 1e-5, 'stats', `${what}: approxkl, pg_clipfrac, vf_clipfrac, entropy, ratio`);
      close(grads[0]!.dataSync(), m.grads.new_logits.flat(2), 1e-5, 'gradients', `${what}: d loss / d logits`);
      close(grads[1]!.dataSync(), m.grads.vpred.flat(), 1e-5, 'gradients', `${what}: d loss / d vpred`);
      stats.push(s);
      tf.dispose([value, ...grads, tokens, logits, vpred]);
    });
    const cells = c.config.num_ppo_epochs * c.config.num_mini_batches * c.config.gradient_accumulation_steps;
    const metrics = ppoUpdateMetrics(stats, cells);
    for (const [name, v] of Object.entries(metrics)) close([v], [nan(c.metrics[name]!)], 1e-5, 'metrics', `${c.name}: ${name}`);
    const expected = Object.keys(c.metrics).sort();
    assert.deepEqual([...Object.keys(metrics), ...Object.keys(r.metrics)].sort(), expected, `${c.name}: TRL's metric names`);
  }
});

test('reports the worst differences from TRL', (t) => {
  t.diagnostic(`max |Δ| from TRL: ${Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
});

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, v) => a + v, 0) / xs.length;
