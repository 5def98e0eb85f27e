// Finite-difference checks of every hand-written gradient in daemon/engine/ops.ts, on the wasm
// backend whose fast paths they exist for, plus the zero-copy batched matmul against tf.matMul.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { applyRope, bmm, bmmT, embedding, linear, linearFrozen, linearLora, ropeRows } from '../../../daemon/engine/ops.ts';
import { headLogProbs, weightedCrossEntropy, type TokenStat } from '../../../daemon/engine/headOps.ts';
import { perSequence } from '../../../daemon/engine/logprobs.ts';
import { checkGradient, randomTensor, useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

test('linear: y = x W^T and both gradients match finite differences', () => {
  const x = randomTensor([5, 3], 1);
  const w = randomTensor([4, 3], 2);
  const y = linear(x as tf.Tensor2D, w as tf.Tensor2D);
  const ref = tf.matMul(x, w, false, true);
  assert.ok(tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]! < 1e-5);
  const f = (a: tf.Tensor, b: tf.Tensor) => linear(a as tf.Tensor2D, b as tf.Tensor2D);
  checkGradient(f, [x, w], 0);
  checkGradient(f, [x, w], 1);
  // the other transpose branch of the weight gradient (in > out)
  const x2 = randomTensor([6, 5], 3);
  const w2 = randomTensor([2, 5], 4);
  checkGradient(f, [x2, w2], 1);
});

test('linearFrozen: gradient for x only, same as linear', () => {
  const x = randomTensor([4, 3], 5);
  const w = randomTensor([2, 3], 6);
  checkGradient((a) => linearFrozen(a as tf.Tensor2D, w as tf.Tensor2D), [x], 0);
});

test('linearLora: equals linearFrozen + scale (xd A^T) B^T, value and gradients, with and without a separate dropout input', () => {
  const x = randomTensor([5, 6], 20);
  const w = randomTensor([4, 6], 21);
  const a = randomTensor([2, 6], 22);
  const b = randomTensor([4, 2], 23);
  // Dropout stands as a fixed mask times 1/(1-p), so x reaches the output through both branches.
  const mask = tf.tensor2d(Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 0 : 1.5)), [5, 6]);
  const scale = 2.5;
  for (const dropped of [false, true]) {
    const fused = (xi: tf.Tensor, ai: tf.Tensor, bi: tf.Tensor) =>
      linearLora(xi as tf.Tensor2D, w as tf.Tensor2D, ai as tf.Tensor2D, bi as tf.Tensor2D, scale, dropped ? (tf.mul(xi, mask) as tf.Tensor2D) : (xi as tf.Tensor2D));
    const composed = (xi: tf.Tensor, ai: tf.Tensor, bi: tf.Tensor) => {
      const xd = dropped ? (tf.mul(xi, mask) as tf.Tensor2D) : (xi as tf.Tensor2D);
      return tf.add(linearFrozen(xi as tf.Tensor2D, w as tf.Tensor2D), tf.mul(linear(linear(xd, ai as tf.Tensor2D), bi as tf.Tensor2D), scale));
    };
    const probe = randomTensor([5, 4], 24);
    const grads = (f: (xi: tf.Tensor, ai: tf.Tensor, bi: tf.Tensor) => tf.Tensor) => tf.grads((xi: tf.Tensor, ai: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(f(xi, ai, bi), probe)))([x, a, b]);
    const diff = (p: tf.Tensor, q: tf.Tensor) => tf.max(tf.abs(tf.sub(p, q))).dataSync()[0]!;
    assert.ok(diff(fused(x, a, b), composed(x, a, b)) < 1e-5, `value (dropped ${dropped})`);
    const [gf, gc] = [grads(fused), grads(composed)];
    gf.forEach((g, i) => assert.ok(diff(g, gc[i]!) < 1e-5, `gradient ${i} (dropped ${dropped}) off by ${diff(g, gc[i]!)}`));
    for (const which of [0, 1, 2]) checkGradient(fused, [x, a, b], which);
  }
});

test('bmm: zero-copy batched matmul equals tf.matMul, gradients match', () => {
  const a = randomTensor([3, 4, 5], 7);
  const b = randomTensor([3, 5, 2], 8);
  const diff = tf.max(tf.abs(tf.sub(bmm(a as tf.Tensor3D, b as tf.Tensor3D), tf.matMul(a, b)))).dataSync()[0]!;
  assert.ok(diff < 1e-5, `bmm differs from matMul by ${diff}`);
  const f = (x: tf.Tensor, y: tf.Tensor) => bmm(x as tf.Tensor3D, y as tf.Tensor3D);
  checkGradient(f, [a, b], 0);
  checkGradient(f, [a, b], 1);
});

test('bmmT: a @ b^T batched, equals tf.matMul with the flag, gradients match', () => {
  const a = randomTensor([3, 4, 5], 40);
  const b = randomTensor([3, 6, 5], 41);
  const diff = tf.max(tf.abs(tf.sub(bmmT(a as tf.Tensor3D, b as tf.Tensor3D), tf.matMul(a, b, false, true)))).dataSync()[0]!;
  assert.ok(diff < 1e-5, `bmmT differs from matMul by ${diff}`);
  const f = (x: tf.Tensor, y: tf.Tensor) => bmmT(x as tf.Tensor3D, y as tf.Tensor3D);
  checkGradient(f, [a, b], 0);
  checkGradient(f, [a, b], 1);
});

test("applyRope: HF's x * cos + rotate_half(x) * sin per head (times a scale), and its gradient", () => {
  const [n, heads, hd] = [3, 2, 4];
  const x = randomTensor([n, heads * hd], 42);
  const cos = Float32Array.from({ length: n * hd }, (_, i) => Math.cos(0.3 * i));
  const sin = Float32Array.from({ length: n * hd }, (_, i) => Math.sin(0.3 * i));
  const rows = ropeRows(cos, sin, n, heads, hd, 0.5);
  const c = tf.tensor2d(rows.cos, [n, heads * hd]);
  const s = tf.tensor2d(rows.sinSigned, [n, heads * hd]);
  const got = applyRope(x as tf.Tensor2D, c, s, hd).arraySync();
  const xs = x.arraySync() as number[][];
  for (let r = 0; r < n; r++) {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < hd; j++) {
        const v = xs[r]![h * hd + j]!;
        const rotated = j < hd / 2 ? -xs[r]![h * hd + j + hd / 2]! : xs[r]![h * hd + j - hd / 2]!;
        const expected = 0.5 * (v * cos[r * hd + j]! + rotated * sin[r * hd + j]!);
        assert.ok(Math.abs(got[r]![h * hd + j]! - expected) < 1e-6, `row ${r} head ${h} dim ${j}`);
      }
    }
  }
  checkGradient((a) => applyRope(a as tf.Tensor2D, c, s, hd), [x], 0);
});

test('embedding: gather forward, scatter-add backward (repeated ids accumulate)', () => {
  const table = randomTensor([6, 3], 9);
  const ids = tf.tensor2d([[1, 4, 1], [0, 1, 5]], [2, 3], 'int32');
  const out = embedding(table as tf.Tensor2D, ids);
  assert.deepEqual(out.shape, [2, 3, 3]);
  checkGradient((t) => embedding(t as tf.Tensor2D, ids), [table], 0);
});

test('weightedCrossEntropy: value and gradient; zero-weight rows contribute nothing', () => {
  const logits = randomTensor([4, 7], 10, 2);
  const labels = tf.tensor1d([3, 0, 6, 2], 'int32');
  const weights = tf.tensor1d([1, 0, 0.5, 1]);
  const v = weightedCrossEntropy(logits as tf.Tensor2D, labels, weights).dataSync()[0]!;
  const lp = tf.logSoftmax(logits).arraySync() as number[][];
  const expected = -(lp[0]![3]! + 0.5 * lp[2]![6]! + lp[3]![2]!);
  assert.ok(Math.abs(v - expected) < 1e-4, `${v} vs ${expected}`);
  checkGradient((z) => tf.reshape(weightedCrossEntropy(z as tf.Tensor2D, labels, weights), [1]), [logits], 0);
  const g = tf.grad((z: tf.Tensor) => weightedCrossEntropy(z as tf.Tensor2D, labels, weights))(logits).arraySync() as number[][];
  assert.ok(g[1]!.every((x) => x === 0), 'a zero-weight row must get a zero gradient');
});

test('headLogProbs: per-token log-probs, their statistics, and gradients for hidden states and a trainable head match finite differences', () => {
  const x = randomTensor([6, 5], 21);
  const head = randomTensor([9, 5], 22, 0.8);
  const labels = tf.tensor1d([3, 0, 8, 2, 2, 7], 'int32');
  const stats: Partial<Record<TokenStat, tf.Tensor1D>> = {};
  // 18 logits per chunk: three chunks of two rows.
  const lp = headLogProbs(x as tf.Tensor2D, head as tf.Tensor2D, labels, ['correct', 'entropy', 'logitMean'], stats, 18).arraySync();
  const logits = tf.matMul(x, head, false, true);
  const full = tf.logSoftmax(logits).arraySync() as number[][];
  const z = logits.arraySync() as number[][];
  const ls = labels.arraySync();
  full.forEach((row, i) => {
    assert.ok(Math.abs(lp[i]! - row[ls[i]!]!) < 1e-5, `row ${i}: ${lp[i]} vs ${row[ls[i]!]}`);
    const entropy = -row.reduce((a, l) => a + Math.exp(l) * l, 0);
    assert.ok(Math.abs(stats.entropy!.arraySync()[i]! - entropy) < 1e-5, `entropy of row ${i}`);
    assert.ok(Math.abs(stats.logitMean!.arraySync()[i]! - z[i]!.reduce((a, v) => a + v, 0) / z[i]!.length) < 1e-5, `mean logit of row ${i}`);
    assert.equal(stats.correct!.arraySync()[i], z[i]!.indexOf(Math.max(...z[i]!)) === ls[i] ? 1 : 0);
  });
  for (const t of Object.values(stats)) t.dispose();
  const w = tf.variable(head, true);
  checkGradient((a) => headLogProbs(a as tf.Tensor2D, w as unknown as tf.Tensor2D, labels, [], {}, 18), [x], 0);
  // The head's gradient through the variable (as under full fine-tuning of a tied embedding).
  const probe = randomTensor([6], 23);
  const analytic = tf.variableGrads(() => tf.sum(tf.mul(headLogProbs(x as tf.Tensor2D, w as unknown as tf.Tensor2D, labels, [], {}, 18), probe)) as tf.Scalar, [w]).grads[w.name]!.dataSync();
  const base = head.dataSync();
  const eps = 1e-2;
  for (let i = 0; i < base.length; i++) {
    const at = (d: number) => {
      const shifted = Float32Array.from(base);
      shifted[i]! += d;
      return tf.tidy(() => tf.sum(tf.mul(headLogProbs(x as tf.Tensor2D, tf.tensor2d(shifted, [9, 5]), labels, [], {}, 18), probe)).dataSync()[0]!);
    };
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    assert.ok(Math.abs(numeric - analytic[i]!) < 2e-2 * Math.max(1, Math.abs(numeric)), `head gradient ${i}: ${analytic[i]} vs ${numeric}`);
  }
  w.dispose();
});

test('headLogProbs at a temperature: log-probs of logits / T, and gradients that match finite differences', () => {
  const x = randomTensor([4, 5], 41);
  const head = randomTensor([7, 5], 42, 0.8);
  const labels = tf.tensor1d([1, 6, 0, 3], 'int32');
  const T = 0.7;
  const lp = headLogProbs(x as tf.Tensor2D, head as tf.Tensor2D, labels, [], {}, 14, T).arraySync();
  const full = tf.logSoftmax(tf.div(tf.matMul(x, head, false, true), T)).arraySync() as number[][];
  full.forEach((row, i) => assert.ok(Math.abs(lp[i]! - row[labels.arraySync()[i]!]!) < 1e-5, `row ${i}`));
  const w = tf.variable(head, true);
  checkGradient((a) => headLogProbs(a as tf.Tensor2D, w as unknown as tf.Tensor2D, labels, [], {}, 14, T), [x], 0);
  w.dispose();
});

test('headLogProbs with a frozen head: the input gradient made in the forward pass equals the backward-pass one, and finite differences', () => {
  const x = randomTensor([6, 5], 31);
  const head = randomTensor([9, 5], 32, 0.8);
  const labels = tf.tensor1d([3, 0, 8, 2, 2, 7], 'int32');
  const probe = randomTensor([6], 33);
  for (const temperature of [1, 0.7]) {
    // Statistics asked for too, since they travel with the early gradient out of each chunk.
    const f = (early: boolean) => (a: tf.Tensor) => headLogProbs(a as tf.Tensor2D, head as tf.Tensor2D, labels, ['entropy', 'correct'], {}, 18, temperature, early);
    const grad = (early: boolean) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(early)(a), probe)))(x);
    const diff = tf.max(tf.abs(tf.sub(grad(true), grad(false)))).dataSync()[0]!;
    assert.ok(diff < 1e-5, `early and backward-pass gradients differ by ${diff} at temperature ${temperature}`);
    assert.ok(tf.max(tf.abs(tf.sub(f(true)(x), f(false)(x)))).dataSync()[0]! === 0, 'the same log-probs either way');
    checkGradient(f(true), [x], 0);
  }
});

test('perSequence: sums of per-token values per sequence, with the gradient spread back to each token', () => {
  const values = randomTensor([5], 31) as tf.Tensor1D;
  const rowOf = Int32Array.from([0, 0, 2, 1, 2]);
  const sums = perSequence(values, rowOf, 3).arraySync();
  const v = values.arraySync();
  assert.deepEqual(sums.map((s) => Number(s.toFixed(5))), [v[0]! + v[1]!, v[3]!, v[2]! + v[4]!].map((s) => Number(s.toFixed(5))));
  checkGradient((a) => perSequence(a as tf.Tensor1D, rowOf, 3), [values], 0);
});
