// Memory: what a training step holds at its peak (the engine's habits the estimate relies on), the
// estimate itself, the refusal before a run that cannot fit, and out-of-memory failures turned into
// one sentence.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { gelu } from '../../../daemon/engine/ops.ts';
import { AdamW } from '../../../daemon/engine/optim.ts';
import { randomTensor, useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

/** Peak bytes of live tensors while `f` runs (tfjs's own count). */
async function peakBytes(f: () => void): Promise<number> {
  const info = await tf.profile(() => {
    f();
  });
  return info.peakBytes;
}

test('a custom gradient frees its temporaries before the next op is differentiated', async () => {
  // GELU's gradient builds about fifteen x-sized terms. Kept until the backward pass ends (tfjs runs a
  // custom gradient outside any tidy), eight GELUs in a row would hold eight sets of them at once.
  const x = randomTensor([64, 256], 1);
  const peak = async (depth: number) =>
    peakBytes(() =>
      tf.tidy(() => {
        tf.grad((v: tf.Tensor) => {
          let y = v;
          for (let i = 0; i < depth; i++) y = gelu(y, 'tanh');
          return tf.sum(y);
        })(x);
      }),
    );
  const one = await peak(1);
  const eight = await peak(8);
  const xBytes = x.size * 4;
  // Eight layers keep eight inputs and eight gradients more than one layer; the terms must not pile up.
  assert.ok(eight - one < 7 * 4 * xBytes, `eight GELUs peaked ${((eight - one) / xBytes).toFixed(1)} x-sizes above one GELU`);
  x.dispose();
});

test('an AdamW step holds temporaries for one parameter at a time', async () => {
  const make = (count: number) => {
    const params = new Map<string, tf.Variable>();
    for (let i = 0; i < count; i++) params.set(`model.layers.${i}.mlp.up_proj.weight`, tf.variable(randomTensor([128, 128], i)));
    const grads = new Map([...params].map(([n, p]) => [n, tf.onesLike(p) as tf.Tensor]));
    return { params, grads, opt: new AdamW(params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 }) };
  };
  const growth = async (count: number) => {
    const { params, grads, opt } = make(count);
    const before = tf.memory().numBytes;
    const peak = await peakBytes(() => opt.apply(grads, 1e-3));
    opt.dispose();
    for (const t of [...params.values(), ...grads.values()]) t.dispose();
    return peak - before;
  };
  const paramBytes = 128 * 128 * 4;
  const one = await growth(1);
  const sixteen = await growth(16);
  // Each update replaces a parameter and its two moments in place; 16 parameters may not need more room than one.
  assert.ok(sixteen - one < 2 * paramBytes, `16 parameters peaked ${((sixteen - one) / paramBytes).toFixed(1)} parameter-sizes above one`);
});
