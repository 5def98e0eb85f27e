// headCrossEntropy (the LM head and the loss in chunks) equals the head's logits through
// weightedCrossEntropy, in value, accuracy count and gradients for the hidden states and a trainable
// head, for nll and dft, over several chunks; and it leaves nothing allocated.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { headCrossEntropy, weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { randomTensor, useBackend } from './helpers.ts';

before(() => useBackend());

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst < tol, `${what}: worst difference ${worst}`);
}

for (const lossType of ['nll', 'dft'] as const) {
  test(`chunked head + ${lossType} loss = logits through weightedCrossEntropy, with gradients for hidden and head`, () => {
    const rows = 13;
    const hidden = 24;
    const vocab = 50;
    const x = randomTensor([rows, hidden], 1) as tf.Tensor2D;
    const head = tf.variable(randomTensor([vocab, hidden], 2, 0.3), true) as unknown as tf.Tensor2D;
    const labels = tf.tensor1d(Int32Array.from({ length: rows }, (_, i) => (i * 7) % vocab), 'int32');
    const weights = tf.tensor1d(Float32Array.from({ length: rows }, (_, i) => (i % 4 === 0 ? 0 : 1 / rows)));
    const before = tf.memory().numTensors;
    const reference = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => weightedCrossEntropy(tf.matMul(x, head, false, true), labels, weights, lossType), [head as unknown as tf.Variable]);
      const dx = tf.grads((a: tf.Tensor) => weightedCrossEntropy(tf.matMul(a as tf.Tensor2D, head, false, true), labels, weights, lossType))([x])[0]!;
      const correct = tf.sum(tf.cast(tf.equal(tf.argMax(tf.matMul(x, head, false, true), 1), labels), 'float32'));
      return { value: value.dataSync()[0]!, dhead: Object.values(grads)[0]!.dataSync(), dx: dx.dataSync(), correct: correct.dataSync()[0]! };
    });
    // 4 rows of 50 logits per chunk: four chunks, the last one short.
    const out: { correct?: tf.Tensor } = {};
    const chunked = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => headCrossEntropy(x, head, labels, weights, lossType, out, 200), [head as unknown as tf.Variable]);
      const again: { correct?: tf.Tensor } = {};
      const dx = tf.grads((a: tf.Tensor) => headCrossEntropy(a as tf.Tensor2D, head, labels, weights, lossType, again, 200))([x])[0]!;
      again.correct!.dispose(); // the count is kept for the caller, who disposes it
      return { value: value.dataSync()[0]!, dhead: Object.values(grads)[0]!.dataSync(), dx: dx.dataSync() };
    });
    close([chunked.value], [reference.value], 1e-5, 'loss');
    close(chunked.dhead, reference.dhead, 1e-5, 'head gradient');
    close(chunked.dx, reference.dx, 1e-5, 'hidden gradient');
    assert.equal(out.correct!.dataSync()[0], reference.correct);
    out.correct!.dispose();
    assert.equal(tf.memory().numTensors, before, 'nothing left allocated');
    assert.ok(reference.value > 0);
  });
}
