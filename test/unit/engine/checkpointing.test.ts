// Gradient checkpointing (ForwardOptions.checkpointLayers, recompute.ts): recomputing each layer in
// the backward pass must give the gradients of the plain pass, for full fine-tuning and for LoRA with
// dropout, on Llama-family models (GQA, Qwen3's q/k norms) and GPT-2; leave no tensors behind; keep
// less alive at the end of the forward pass; and give SFT the same loss curve.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig, TrainingArguments } from '../../../core/recipe/types.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { causalBias, disposeModel, type ForwardInputs } from '../../../daemon/engine/model.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { batch, gradients, load, loraWithDropout, maxDiff, MODELS } from './gradientCases.ts';
import { useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

for (const [label, dir] of Object.entries(MODELS)) {
  test(`${label}: checkpointed gradients equal the plain pass's (full fine-tuning and LoRA with dropout), no tensors left`, () => {
    const data = batch(dir);
    const model = load(dir, true);
    const plain = gradients(model, null, data, false);
    const ck = gradients(model, null, data, true);
    assert.equal(plain.leaked, 0, 'plain pass leaves no tensors');
    assert.equal(ck.leaked, 0, 'checkpointed pass leaves no tensors');
    assert.equal(plain.grads.size, model.params.size, 'every weight gets a gradient');
    const full = maxDiff(plain.grads, ck.grads);
    assert.ok(full.scale > 0);
    assert.ok(full.diff <= 1e-5, `full fine-tuning gradients differ by ${full.diff} (largest ${full.scale})`);
    assert.ok(Math.abs(plain.loss - ck.loss) <= 1e-6, `loss ${plain.loss} vs ${ck.loss}`);
    disposeModel(model);

    const frozen = load(dir, false);
    const lora = loraWithDropout(frozen);
    lora.reseed(42);
    const lplain = gradients(frozen, lora, data, false);
    const lck = gradients(frozen, lora, data, true);
    assert.equal(lck.leaked, 0, 'checkpointed LoRA pass leaves no tensors');
    const lr = maxDiff(lplain.grads, lck.grads);
    assert.ok(lr.diff <= 1e-5, `LoRA gradients differ by ${lr.diff} (largest ${lr.scale}): the recomputation must draw the same dropout masks`);
    // The masks are in play: without dropout the gradients differ, so equal gradients above mean equal masks.
    lora.training = false;
    const noDropout = gradients(frozen, lora, data, false);
    assert.ok(maxDiff(lplain.grads, noDropout.grads).diff > 1e-3, 'dropout changes the gradients');
    console.log(`${label}: full ${full.diff.toExponential(1)} of ${full.scale.toFixed(2)}, LoRA ${lr.diff.toExponential(1)} of ${lr.scale.toFixed(2)}`);
    lora.dispose();
    disposeModel(frozen);
  });
}

test('checkpointing keeps far less alive at the end of the forward pass (tiny Llama, 4 x 48 tokens)', () => {
  const model = load('llama_tiny', true);
  const B = 4;
  const T = 48;
  const rng = new Rng(3);
  const ids = Int32Array.from({ length: B * T }, () => rng.int(model.config.vocab_size));
  const inputs: ForwardInputs = { batch: B, length: T, ids, positions: Int32Array.from({ length: B * T }, (_, i) => i % T), bias: causalBias(new Int32Array(B * T).fill(1), B, T) };
  const select = Int32Array.from({ length: B * T }, (_, i) => i);
  const data = { inputs, select, labels: Int32Array.from(select, (p) => ids[(p + 1) % (B * T)]!) };
  const plain = gradients(model, null, data, false);
  const ck = gradients(model, null, data, true);
  console.log(`alive at the end of the forward pass: ${(plain.keptBytes / 1e6).toFixed(2)} MB plain, ${(ck.keptBytes / 1e6).toFixed(2)} MB checkpointed`);
  // Checkpointed: each layer's input plus the head; plain: every layer's every intermediate as well.
  assert.ok(ck.keptBytes < plain.keptBytes / 2, `${ck.keptBytes} bytes checkpointed vs ${plain.keptBytes} plain`);
  assert.ok(maxDiff(plain.grads, ck.grads).diff <= 1e-5);
  disposeModel(model);
});

/**
 * Logged loss and grad norm per step of an SFT run of the built-in tiny model, and how many times the
 * engine differentiated: once per micro-batch, and once more per layer when layers are recomputed.
 */
async function curve(lora: LoraConfig | null, args: Partial<TrainingArguments>) {
  const seen: { loss: number; grad_norm: number }[] = [];
  const engine = tf.engine();
  const gradients = engine.gradients;
  let differentiations = 0;
  engine.gradients = function (this: typeof engine, ...a: Parameters<typeof gradients>) {
    differentiations++;
    return gradients.apply(this, a);
  } as typeof gradients;
  const events: TrainEvents = {
    status: () => {},
    metrics: (m) => {
      if ('loss' in m) seen.push({ loss: m.loss!, grad_norm: m.grad_norm! });
    },
    sample: () => {},
    log: () => {},
    checkpoint: () => {},
  };
  const job = {
    stage: 'sft' as const,
    runDir: mkdtempSync(join(tmpdir(), 'anneal-run-')),
    model: 'tiny',
    data: { train: join(import.meta.dirname, '../../../examples/sft.jsonl') },
    lora,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    args: { ...defaultTrainingArguments('sft'), save_steps: 0, logging_steps: 1, max_length: 64, per_device_train_batch_size: 4, gradient_accumulation_steps: 2, max_steps: 4, learning_rate: 1e-2, ...args },
  };
  try {
    await train(job, events, new AbortController().signal);
  } finally {
    engine.gradients = gradients;
  }
  return { seen, differentiations };
}

test('SFT with gradient_checkpointing: the same loss curve, full and LoRA with dropout, no tensors left', async () => {
  const baseline = tf.memory().numTensors;
  for (const lora of [null, { r: 4, alpha: 8, dropout: 0.1, target_modules: 'all-linear' as const }]) {
    const { seen: plain, differentiations: once } = await curve(lora, { gradient_checkpointing: false });
    const { seen: ck, differentiations } = await curve(lora, { gradient_checkpointing: true });
    const microBatches = 4 * 2;
    assert.equal(once, microBatches);
    assert.equal(differentiations, microBatches * (1 + tinyConfig().num_hidden_layers), 'the loop recomputes every layer of every micro-batch');
    assert.equal(ck.length, 4);
    assert.ok(plain[3]!.loss < plain[0]!.loss, `loss falls: ${plain.map((s) => s.loss)}`);
    for (let i = 0; i < plain.length; i++) {
      assert.ok(Math.abs(plain[i]!.loss - ck[i]!.loss) <= 1e-5 * plain[i]!.loss, `step ${i + 1}: loss ${plain[i]!.loss} vs ${ck[i]!.loss}`);
      assert.ok(Math.abs(plain[i]!.grad_norm - ck[i]!.grad_norm) <= 1e-4 * plain[i]!.grad_norm, `step ${i + 1}: grad norm ${plain[i]!.grad_norm} vs ${ck[i]!.grad_norm}`);
    }
    console.log(`${lora ? 'LoRA' : 'full'} SFT loss ${plain.map((s) => s.loss.toFixed(4)).join(' ')} (plain) / ${ck.map((s) => s.loss.toFixed(4)).join(' ')} (checkpointed)`);
  }
  assert.equal(tf.memory().numTensors, baseline, 'everything disposed after the runs');
});
