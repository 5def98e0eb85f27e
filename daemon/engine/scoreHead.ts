// A scalar head on the last token: what transformers' AutoModelForSequenceClassification builds with
// num_labels=1 (a bias-free `score` linear layer [1, hidden] on the final hidden state), the reward
// model of RLHF. Its value for a sequence is read where transformers reads it: at the rightmost token
// whose id is not the pad id, so scores equal the saved model's when transformers loads it.
import * as tf from '@tensorflow/tfjs-core';
import type { LinearAdapter, LlamaModel } from './model.ts';
import { causalBias, forward, ownedVariable } from './model.ts';
import { Rng } from './rng.ts';
import type { SequenceBatch } from './logprobs.ts';

/** The head's name in a transformers checkpoint (and, under PEFT, `base_model.model.score.weight`). */
export const SCORE_HEAD = 'score.weight';

/** A new head, N(0, std) as transformers initialises a Linear (std = config.initializer_range, 0.02 by default), seeded. */
export function newScoreHead(hidden: number, seed: number, std = 0.02): tf.Variable {
  const rng = new Rng(seed);
  return ownedVariable(tf.tensor2d(Float32Array.from({ length: hidden }, () => rng.normal() * std), [1, hidden]), true);
}

/** Per row, the flattened position of its rightmost token that is not `padId` (transformers' rule; 0 for an all-pad row). */
export function lastTokenPositions(b: Pick<SequenceBatch, 'batch' | 'length' | 'ids'>, padId: number): Int32Array {
  const out = new Int32Array(b.batch);
  for (let r = 0; r < b.batch; r++) {
    let last = 0;
    for (let t = 0; t < b.length; t++) if (b.ids[r * b.length + t] !== padId) last = t;
    out[r] = r * b.length + last;
  }
  return out;
}

/**
 * `loss` of the rows' rewards [B] (differentiable through the model and the head): only the last
 * tokens go through the final norm and the head. Call inside tf.tidy or tf.variableGrads.
 */
export function rewardLoss(
  model: LlamaModel,
  adapter: LinearAdapter | undefined,
  frozenBase: boolean,
  score: tf.Tensor2D,
  b: Pick<SequenceBatch, 'batch' | 'length' | 'ids' | 'positions' | 'segments'>,
  padId: number,
  loss: (rewards: tf.Tensor1D) => tf.Scalar,
  checkpointLayers = false,
): tf.Scalar {
  const lossHead = (hidden: tf.Tensor2D) => loss(tf.reshape(tf.matMul(hidden, score, false, true), [b.batch]) as tf.Tensor1D);
  return forward(
    model,
    { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) },
    { adapter, frozenBase, select: lastTokenPositions(b, padId), checkpointLayers, lossHead },
  ) as tf.Tensor as tf.Scalar;
}

/** The rows' rewards, without gradient (evaluation, scoring pairs). */
export function sequenceRewards(model: LlamaModel, adapter: LinearAdapter | undefined, score: tf.Tensor2D, b: Pick<SequenceBatch, 'batch' | 'length' | 'ids' | 'positions' | 'segments'>, padId: number): Float32Array {
  let out = new Float32Array(0);
  tf.tidy(() => {
    rewardLoss(model, adapter, true, score, b, padId, (r) => {
      out = Float32Array.from(r.dataSync());
      return tf.scalar(0);
    });
  });
  return out;
}
