// load_in_4bit: Q4_0 quantization equal to gguf's reference quantizer, a quantized linear with the same
// value and input gradient as the float one, and LoRA on the real SmolLM2 GGUF kept in its own blocks
// giving the same losses as the dequantized model, from a fraction of the memory.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { dequantize, floatToHalf, GGML, halfToFloat, quantizeQ4_0 } from '../../../daemon/engine/dequantize.ts';
import { linearFrozen, linearQuantized } from '../../../daemon/engine/ops.ts';
import { QuantizedWeight, quantizedFootprint } from '../../../daemon/engine/quantized.ts';
import { loadGgufSource } from '../../../daemon/engine/gguf.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import { smollm2Gguf } from '../../helpers/realModels.ts';
import { randomTensor, useBackend } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gguf');

before(() => useBackend());

test("quantizeQ4_0 writes the bytes gguf's reference quantizer writes", () => {
  const ref = JSON.parse(readFileSync(join(FIXTURES, 'q4_0_reference.json'), 'utf8')) as { floats: number[]; bytes: string };
  const ours = Buffer.from(quantizeQ4_0(Float32Array.from(ref.floats))).toString('hex');
  assert.equal(ours, ref.bytes);
  // Within a block's step d = max|x| / 8 (the side opposite the extreme value clamps at 15).
  const back = dequantize(quantizeQ4_0(Float32Array.from(ref.floats)), GGML.Q4_0, ref.floats.length);
  for (let b = 0; b < ref.floats.length; b += 32) {
    const d = Math.max(...ref.floats.slice(b, b + 32).map(Math.abs)) / 8;
    for (let i = b; i < b + 32; i++) assert.ok(Math.abs(back[i]! - ref.floats[i]!) <= d * 1.001, `element ${i}`);
  }
});

test('floatToHalf rounds to the nearest half and back', () => {
  for (const v of [0, 1, -2, 0.1, 65504, 6e-8, 1e-5, -3.14159, 70000]) {
    const h = halfToFloat(floatToHalf(v));
    const expected = v > 65504 ? Infinity : v;
    if (expected === Infinity) assert.equal(h, Infinity);
    else assert.ok(Math.abs(h - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `${v} -> ${h}`);
  }
});

test('a quantized linear equals the float linear of its dequantized weight, in value and input gradient', () => {
  const w = QuantizedWeight.fromFloats([48, 64], randomTensor([48, 64], 4, 0.2).dataSync() as Float32Array);
  const x = randomTensor([5, 64], 5) as tf.Tensor2D;
  const floats = w.materialize();
  const probe = randomTensor([5, 48], 6);
  const before = tf.memory().numTensors;
  const [yq, gq] = tf.tidy(() => {
    const g = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(linearQuantized(a as tf.Tensor2D, w), probe)))([x])[0]!;
    return [linearQuantized(x, w).dataSync(), g.dataSync()];
  });
  const [yf, gf] = tf.tidy(() => {
    const g = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(linearFrozen(a as tf.Tensor2D, floats), probe)))([x])[0]!;
    return [linearFrozen(x, floats).dataSync(), g.dataSync()];
  });
  assert.equal(tf.memory().numTensors, before, 'the materialized floats are freed');
  for (let i = 0; i < yq.length; i++) assert.ok(Math.abs(yq[i]! - yf[i]!) < 1e-5);
  for (let i = 0; i < gq.length; i++) assert.ok(Math.abs(gq[i]! - gf[i]!) < 1e-5);
  floats.dispose();
});

test('LoRA on the SmolLM2 GGUF with load_in_4bit: the same losses as the dequantized model, the base in its Q4_1 blocks', { timeout: 300_000 }, async (t) => {
  const quantized = await loadGgufSource(smollm2Gguf(), { loadIn4bit: true });
  const { bytes, floatBytes } = quantizedFootprint(quantized.quantized!);
  t.diagnostic(`210 frozen linear weights: ${(bytes / 2 ** 20).toFixed(1)} MiB quantized vs ${(floatBytes / 2 ** 20).toFixed(1)} MiB float32`);
  assert.equal(quantized.quantized!.size, 210);
  assert.ok(bytes < floatBytes / 5, 'Q4_1 is 5 bits a weight, Q8_0 8.5');
  assert.ok(!quantized.weights.has('model.layers.0.self_attn.q_proj.weight') && quantized.weights.has('model.embed_tokens.weight'));

  const data = join(import.meta.dirname, '..', '..', '..', 'examples', 'sft.jsonl');
  const losses = async (loadIn4bit: boolean) => {
    const out: number[] = [];
    await train(
      {
        stage: 'sft',
        runDir: mkdtempSync(join(tmpdir(), 'anneal-4bit-')),
        model: smollm2Gguf(),
        data: { train: data },
        lora: { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' },
        backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
        args: { ...defaultTrainingArguments('sft'), learning_rate: 2e-4, per_device_train_batch_size: 2, max_steps: 2, logging_steps: 1, save_steps: 0, max_length: 64, load_in_4bit: loadIn4bit },
      },
      { status: () => {}, metrics: (m) => (typeof m.loss === 'number' ? out.push(m.loss) : undefined), sample: () => {}, log: () => {}, checkpoint: () => {} },
      new AbortController().signal,
    );
    return out;
  };
  const kept = await losses(true);
  const floats = await losses(false);
  t.diagnostic(`losses with load_in_4bit ${kept.map((l) => l.toFixed(5))}, dequantized ${floats.map((l) => l.toFixed(5))}`);
  assert.equal(kept.length, 2);
  // The blocks dequantize to exactly the floats the other run multiplies by.
  for (let i = 0; i < kept.length; i++) assert.ok(Math.abs(kept[i]! - floats[i]!) < 1e-4, `step ${i + 1}: ${kept[i]} vs ${floats[i]}`);
});
