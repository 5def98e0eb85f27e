// PPO's critic: a linear value head `v_head` [1, hidden] on the policy's final hidden state (after the
// final norm, where a reward model's `score` reads it), and one forward pass that gives both the
// policy's per-token log-probs and the value of every state a response passes through. TRL's PPO
// runs a separate value model (a copy of the reward model); sharing the policy's backbone, as TRL's
// older AutoModelForCausalLMWithValueHead did, costs no second model in memory. The head is
// trainable, saved with checkpoints (beside the weights: checkpoint.ts), and starts from the reward
// model's score head when the shapes match, as TRL's value model starts as the reward model.
import * as tf from '@tensorflow/tfjs-core';
import { causalBias, forward, ownedVariable, type LinearAdapter, type LlamaModel } from './model.ts';
import { headLogProbs } from './headOps.ts';
import type { SequenceBatch } from './logprobs.ts';
import { Rng } from './rng.ts';

/** The value head's name in checkpoints. */
export const VALUE_HEAD = 'v_head.weight';

/** A new value head, N(0, std) like a new Linear (std = initializer_range), seeded; or a copy of `from` (a reward model's score head). */
export function newValueHead(hidden: number, seed: number, std: number, from?: tf.Tensor2D | null): tf.Variable {
  if (from && from.shape[0] === 1 && from.shape[1] === hidden) return tf.variable(from.clone(), true);
  const rng = new Rng(seed);
  return ownedVariable(tf.tensor2d(Float32Array.from({ length: hidden }, () => rng.normal() * std), [1, hidden]), true);
}

export interface PolicyValueOptions {
  adapter?: LinearAdapter;
  frozenBase: boolean;
  checkpointLayers?: boolean;
  /** Log-probs of logits / temperature (PPO scores at the sampling temperature). */
  temperature: number;
  /** Per-token entropies too (no gradient). */
  entropy?: boolean;
}

/** What one pass gives at the selected positions [M]: log-probs of the next tokens and values of the states (differentiable). */
export interface PolicyValues {
  logps: tf.Tensor1D;
  values: tf.Tensor1D;
  entropy?: tf.Tensor1D;
}

/**
 * The policy's log-prob of each selected position's next token and the value head's value there, then
 * `loss` of them; returns loss's scalar, differentiable through the model and `vHead`. Call inside
 * tf.tidy or tf.variableGrads.
 */
export function policyValueLoss(model: LlamaModel, vHead: tf.Tensor2D, b: SequenceBatch, opts: PolicyValueOptions, loss: (pv: PolicyValues) => tf.Scalar): tf.Scalar {
  if (opts.adapter?.params?.has('lm_head.lora_A.weight')) throw new Error('PPO does not support a LoRA on lm_head (the log-probs read the head weight directly); leave lm_head out of target_modules.');
  const labels = tf.tensor1d(b.labels, 'int32');
  const lossHead = (hidden: tf.Tensor2D, head: tf.Tensor2D) => {
    const stats: { entropy?: tf.Tensor1D } = {};
    const logps = headLogProbs(hidden, head, labels, opts.entropy ? ['entropy'] : [], stats, undefined, opts.temperature);
    const values = tf.reshape(tf.matMul(hidden, vHead, false, true), [-1]) as tf.Tensor1D;
    return loss({ logps, values, entropy: stats.entropy });
  };
  return forward(
    model,
    { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) },
    { adapter: opts.adapter, frozenBase: opts.frozenBase, select: b.select, checkpointLayers: opts.checkpointLayers, lossHead },
  ) as tf.Tensor as tf.Scalar;
}

/** policyValueLoss without gradient: the log-probs and values as numbers (the rollout's). */
export function policyValues(model: LlamaModel, vHead: tf.Tensor2D, b: SequenceBatch, opts: PolicyValueOptions): { logps: ArrayLike<number>; values: ArrayLike<number> } {
  let out: { logps: ArrayLike<number>; values: ArrayLike<number> } = { logps: new Float32Array(0), values: new Float32Array(0) };
  tf.tidy(() => {
    policyValueLoss(model, vHead, b, { ...opts, frozenBase: true }, (pv) => {
      out = { logps: pv.logps.dataSync(), values: pv.values.dataSync() };
      return tf.scalar(0);
    });
  });
  return out;
}
