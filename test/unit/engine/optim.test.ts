// AdamW against a hand-computed step, global-norm clipping, and the learning-rate schedules
// against Hugging Face's formulas at chosen steps.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { AdamW, clipByGlobalNorm, decays } from '../../../daemon/engine/optim.ts';
import { learningRate, lrFactor, warmupSteps } from '../../../daemon/engine/schedule.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import { useBackend } from './helpers.ts';

/** TRL's defaults, as the engine fills them for a job. */
const DEFAULT_ARGS = defaultTrainingArguments('sft');

before(async () => {
  await useBackend();
});

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('AdamW: two steps match the PyTorch AdamW formulas computed by hand', () => {
  const p = tf.variable(tf.tensor1d([1.0, -2.0]));
  const params = new Map([['model.layers.0.mlp.up_proj.weight', p]]);
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 });
  const lr = 0.01;
  // step 1, g = [0.5, -1]: m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2 -> update = lr * g/(|g|+eps)
  // decoupled decay first: p <- p * (1 - lr * wd)
  opt.apply(new Map([['model.layers.0.mlp.up_proj.weight', tf.tensor1d([0.5, -1])]]), lr);
  const after1 = p.dataSync();
  close(after1[0]!, 1.0 * (1 - 0.001) - 0.01 * (0.5 / (0.5 + 1e-8)));
  close(after1[1]!, -2.0 * (1 - 0.001) + 0.01 * (1 / (1 + 1e-8)));
  // step 2 with g = [0.1, 0.2], by hand:
  const g2 = [0.1, 0.2];
  const g1 = [0.5, -1];
  const expected = [0, 1].map((i) => {
    const m = 0.9 * (0.1 * g1[i]!) + 0.1 * g2[i]!;
    const v = 0.999 * (0.001 * g1[i]! ** 2) + 0.001 * g2[i]! ** 2;
    const mHat = m / (1 - 0.9 ** 2);
    const denom = Math.sqrt(v) / Math.sqrt(1 - 0.999 ** 2) + 1e-8;
    return after1[i]! * (1 - lr * 0.1) - lr * (mHat / (denom * 1)) ;
  });
  opt.apply(new Map([['model.layers.0.mlp.up_proj.weight', tf.tensor1d(g2)]]), lr);
  const after2 = p.dataSync();
  close(after2[0]!, expected[0]!, 1e-5);
  close(after2[1]!, expected[1]!, 1e-5);
  assert.equal(opt.step, 2);
  // state round-trip
  const st = opt.state();
  const q = tf.variable(tf.tensor1d([0, 0]));
  const opt2 = new AdamW(new Map([['model.layers.0.mlp.up_proj.weight', q]]), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 });
  opt2.load(st);
  assert.deepEqual([...opt2.state().m.values()][0], [...st.m.values()][0]);
  assert.equal(opt2.state().step, 2);
  opt.dispose();
  opt2.dispose();
});

test('AdamW: small parameters updated in groups end exactly where each updated alone does', () => {
  // LoRA-like A [4, 6] and B [6, 4] of several modules, a norm scale (no decay), one large weight, and
  // one parameter left without a gradient in the second step (it must not move, nor its moments).
  const shapes: [string, number[]][] = [
    ['model.layers.0.self_attn.q_proj.lora_A.weight', [4, 6]],
    ['model.layers.0.self_attn.q_proj.lora_B.weight', [6, 4]],
    ['model.layers.0.self_attn.k_proj.lora_A.weight', [4, 6]],
    ['model.layers.0.self_attn.k_proj.lora_B.weight', [3, 4]],
    ['model.layers.0.mlp.up_proj.lora_A.weight', [4, 6]],
    ['model.layers.0.input_layernorm.weight', [6]],
    ['model.layers.1.input_layernorm.weight', [6]],
    ['model.layers.0.mlp.down_proj.weight', [40, 30]],
  ];
  const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const values = (seed: number) => {
    const r = rng(seed);
    return shapes.map(([, s]) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, r));
  };
  const run = (groupBelow: number) => {
    const init = values(1);
    const params = new Map(shapes.map(([n, s], i) => [n, tf.tidy(() => tf.variable(tf.tensor(init[i]!, s)))]));
    const opt = new AdamW(params, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, groupBelow });
    for (let step = 0; step < 3; step++) {
      const g = values(10 + step);
      const grads = new Map<string, tf.Tensor>();
      shapes.forEach(([n, s], i) => (step === 1 && n === shapes[2]![0] ? null : grads.set(n, tf.tensor(g[i]!, s))));
      opt.apply(grads, 0.05);
      for (const t of grads.values()) t.dispose();
    }
    const out = { params: new Map([...params].map(([n, p]) => [n, [...p.dataSync()]])), state: opt.state() };
    opt.dispose();
    for (const p of params.values()) p.dispose();
    return out;
  };
  const before = tf.memory().numTensors;
  const alone = run(0);
  const grouped = run(1000);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  for (const [n] of shapes) {
    assert.deepEqual(grouped.params.get(n), alone.params.get(n), n);
    assert.deepEqual([...grouped.state.m.get(n)!], [...alone.state.m.get(n)!], `${n} m`);
    assert.deepEqual([...grouped.state.v.get(n)!], [...alone.state.v.get(n)!], `${n} v`);
  }
  // The updates did something, and decay reached the decayed parameters only.
  assert.notDeepEqual(alone.params.get(shapes[0]![0]), [...values(1)[0]!]);
});

test('weight decay skips biases and norm scales, as the HF Trainer does', () => {
  assert.equal(decays('model.layers.0.self_attn.q_proj.weight'), true);
  assert.equal(decays('model.layers.0.self_attn.q_proj.bias'), false);
  assert.equal(decays('model.layers.0.input_layernorm.weight'), false);
  assert.equal(decays('model.norm.weight'), false);
});

test('clipByGlobalNorm reports the norm before clipping and scales to max_norm', () => {
  tf.tidy(() => {
    const grads = new Map([['a', tf.tensor1d([3, 0])], ['b', tf.tensor1d([0, 4])]]);
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    close(norm, 5);
    const total = Math.hypot(...clipped.get('a')!.dataSync(), ...clipped.get('b')!.dataSync());
    close(total, 1, 1e-5);
    const untouched = clipByGlobalNorm(grads, 10);
    assert.equal(untouched.grads, grads);
  });
});

test('schedules follow transformers.get_scheduler', () => {
  assert.equal(warmupSteps({ warmup_steps: 0, warmup_ratio: 0.1 }, 95), 10);
  assert.equal(warmupSteps({ warmup_steps: 3, warmup_ratio: 0.5 }, 100), 3);
  // linear: ramps 0 -> 1 over warmup, then down to 0 at the last step
  assert.equal(lrFactor('linear', 0, 10, 110), 0);
  close(lrFactor('linear', 5, 10, 110), 0.5);
  close(lrFactor('linear', 10, 10, 110), 1);
  close(lrFactor('linear', 60, 10, 110), 0.5);
  close(lrFactor('linear', 110, 10, 110), 0);
  // cosine: half a cosine after warmup
  close(lrFactor('cosine', 10, 10, 110), 1);
  close(lrFactor('cosine', 60, 10, 110), 0.5);
  close(lrFactor('cosine', 35, 10, 110), 0.5 * (1 + Math.cos(Math.PI * 0.25)));
  close(lrFactor('cosine', 110, 10, 110), 0);
  // constant ignores warmup; constant_with_warmup ramps then holds
  assert.equal(lrFactor('constant', 0, 10, 110), 1);
  close(lrFactor('constant_with_warmup', 2, 10, 110), 0.2);
  assert.equal(lrFactor('constant_with_warmup', 50, 10, 110), 1);
  close(learningRate({ ...DEFAULT_ARGS, learning_rate: 1e-3, warmup_steps: 10, lr_scheduler_type: 'cosine' }, 60, 110), 5e-4);
});

test('warmup_steps below 1 is a fraction of the total steps (transformers 5), as the recipe schema documents', () => {
  // TrainingArguments.get_warmup_steps: int(w) when w >= 1, else ceil(total * w).
  assert.equal(warmupSteps({ warmup_steps: 0.1, warmup_ratio: 0 }, 95), 10);
  assert.equal(warmupSteps({ warmup_steps: 0.5, warmup_ratio: 0 }, 7), 4);
  assert.equal(warmupSteps({ warmup_steps: 2.7, warmup_ratio: 0 }, 100), 2);
  // warmup_steps wins over warmup_ratio whenever it is positive (the recipe-warmup-both rule says so)
  assert.equal(warmupSteps({ warmup_steps: 0.2, warmup_ratio: 0.5 }, 100), 20);
  // and the learning rate actually ramps over those steps: 10% of 50 steps = 5 warmup steps
  const args = { ...DEFAULT_ARGS, learning_rate: 1e-3, warmup_steps: 0.1, lr_scheduler_type: 'linear' as const };
  const lrs = Array.from({ length: 7 }, (_, s) => learningRate(args, s, 50));
  [0, 0.2, 0.4, 0.6, 0.8, 1].forEach((f, s) => close(lrs[s]!, f * 1e-3));
  close(lrs[6]!, (1e-3 * (50 - 6)) / 45);
});
