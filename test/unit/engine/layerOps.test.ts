// The fused layer ops of daemon/engine/layerOps.ts against the tfjs compositions they replace (value
// and every gradient, through tfjs's own autodiff) and against finite differences. Run on the backend
// the engine suite selects (wasm, and native TensorFlow where it is installed), so both the direct
// TensorFlow kernels and the tfjs-core fallback are checked.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { attention, rmsNorm, swiglu } from '../../../daemon/engine/layerOps.ts';
import { checkGradient, randomTensor, useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** f and g agree in value and in the gradient of sum(out * probe) for every input. */
function sameAsComposition(f: (...xs: tf.Tensor[]) => tf.Tensor, g: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], tol = 1e-4): void {
  const probe = randomTensor(g(...inputs).shape, 77);
  assert.ok(maxDiff(f(...inputs), g(...inputs)) < tol, 'values differ');
  const loss = (h: typeof f) => (...xs: tf.Tensor[]) => tf.sum(tf.mul(h(...xs), probe));
  const got = tf.grads(loss(f))(inputs);
  const want = tf.grads(loss(g))(inputs);
  got.forEach((d, i) => assert.ok(maxDiff(d, want[i]!) < tol, `gradient of input ${i} differs by ${maxDiff(d, want[i]!)}`));
}

const rmsComposition = (x: tf.Tensor, w: tf.Tensor, eps: number) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);

test('rmsNorm: equals the composition, value and gradients of x and a trainable weight; finite differences', () => {
  const x = randomTensor([5, 8], 11);
  const w = randomTensor([8], 12);
  const f = (a: tf.Tensor, b: tf.Tensor) => rmsNorm(a, b as tf.Tensor1D, 1e-6);
  sameAsComposition(f, (a, b) => rmsComposition(a, b, 1e-6), [x, w]);
  checkGradient(f, [x, w], 0);
  checkGradient(f, [x, w], 1);
  // rank 3 (Qwen3's per-head norms reshape to rows first; any leading axes work)
  sameAsComposition(f, (a, b) => rmsComposition(a, b, 1e-6), [randomTensor([2, 3, 8], 13), w]);
});

test('rmsNorm with a frozen weight (a non-trainable variable): x gets the same gradient, the weight none', () => {
  const x = randomTensor([4, 6], 14);
  const w = tf.variable(randomTensor([6], 15), false) as tf.Variable<tf.Rank.R1>;
  sameAsComposition((a) => rmsNorm(a, w, 1e-5), (a) => rmsComposition(a, w, 1e-5), [x]);
  const trainable = tf.variable(randomTensor([3], 16), true);
  const frozen = tf.variable(randomTensor([6], 17), false) as tf.Variable<tf.Rank.R1>;
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(rmsNorm(x, frozen, 1e-5), tf.sum(trainable))) as tf.Scalar);
  assert.deepEqual(Object.keys(grads), [trainable.name]);
});

test('swiglu: gate * sigmoid(gate) * up, value and both gradients; finite differences', () => {
  const gate = randomTensor([4, 6], 21, 2);
  const up = randomTensor([4, 6], 22);
  sameAsComposition((g, u) => swiglu(g as tf.Tensor2D, u as tf.Tensor2D), (g, u) => tf.mul(tf.mul(g, tf.sigmoid(g)), u), [gate, up]);
  checkGradient((g, u) => swiglu(g as tf.Tensor2D, u as tf.Tensor2D), [gate, up], 0);
  checkGradient((g, u) => swiglu(g as tf.Tensor2D, u as tf.Tensor2D), [gate, up], 1);
});

/** Attention as plainly as tfjs writes it: kv heads repeated for their G query heads, [B, H, T, hd]. */
function attentionComposition(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, B: number, T: number, H: number, Hkv: number, hd: number): tf.Tensor {
  const heads = (x: tf.Tensor, n: number) => tf.transpose(tf.reshape(x, [B, T, n, hd]), [0, 2, 1, 3]);
  const repeat = (x: tf.Tensor) => tf.concat(Array.from({ length: H }, (_, h) => tf.slice(x, [0, Math.floor(h / (H / Hkv)), 0, 0], [B, 1, T, hd])), 1);
  const scores = tf.add(tf.matMul(heads(q, H), repeat(heads(k, Hkv)), false, true), tf.expandDims(mask, 1));
  return tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), repeat(heads(v, Hkv))), [0, 2, 1, 3]), [B * T, H * hd]);
}

test('attention: grouped-query attention with a causal, padded mask equals the composition, value and gradients of q, k and v', () => {
  const [B, T, H, Hkv, hd] = [2, 5, 4, 2, 3];
  const G = H / Hkv;
  // Row 1 is padded after 3 tokens: its padding queries see only themselves (as model.causalBias).
  const mask = tf.tensor3d(
    Array.from({ length: B * T * T }, (_, i) => {
      const [b, r, c] = [Math.floor(i / (T * T)), Math.floor(i / T) % T, i % T];
      const real = b === 0 ? T : 3;
      return (r < real ? c <= r && c < real : c === r) ? 0 : -1e9;
    }),
    [B, T, T],
  );
  // The bias as the op takes it: [B*Hkv, G*T, S], the mask repeated for each query head of a group.
  const bias = tf.reshape(tf.tile(tf.expandDims(mask, 1), [1, H, 1, 1]), [B * Hkv, G * T, T]) as tf.Tensor3D;
  const q = randomTensor([B * T, H * hd], 31);
  const k = randomTensor([B * T, Hkv * hd], 32);
  const v = randomTensor([B * T, Hkv * hd], 33);
  const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => attention(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, bias, { B, T, S: T, H, Hkv, hd });
  sameAsComposition(f, (a, b, c) => attentionComposition(a, b, c, mask, B, T, H, Hkv, hd), [q, k, v]);
  for (const which of [0, 1, 2]) checkGradient(f, [q, k, v], which);
});
