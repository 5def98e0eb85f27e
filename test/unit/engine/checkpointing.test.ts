// Gradient checkpointing (ForwardOptions.checkpointLayers, recompute.ts): recomputing each layer in
// the backward pass must give the gradients of the plain pass, for full fine-tuning and for LoRA with
// dropout, on Llama-family models (GQA, Qwen3's q/k norms) and GPT-2; leave no tensors behind; keep
// less alive at the end of the forward pass; and give SFT the same loss curve.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig, TrainingArguments } from '../../../core/recipe/types.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { causalBias, checkWeights, createModel, disposeModel, forward, readModelConfig, type ForwardInputs, type LlamaModel } from '../../../daemon/engine/model.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/engine');
/** Tiny Llama with GQA (4 heads, 2 kv heads), Qwen3 (q/k norms, tied head), GPT-2 (tied head), GPT-2 with layer-scaled attention. */
const MODELS = { llama_tiny: 'llama_tiny', qwen3_yarn: 'architectures/qwen3_yarn', gpt2: 'architectures/gpt2', gpt2_legacy: 'architectures/gpt2_legacy' };

function load(dir: string, trainable: boolean): LlamaModel {
  const config = readModelConfig(JSON.parse(readFileSync(join(fixtures, dir, 'config.json'), 'utf8')));
  return createModel(config, checkWeights(config, readSafetensors(join(fixtures, dir, 'model.safetensors')).tensors), trainable);
}

/** The fixture's right-padded batch, next-token labels on real positions (which alone go through the head, as in training). */
function batch(dir: string) {
  const ref = JSON.parse(readFileSync(join(fixtures, dir, 'reference.json'), 'utf8')) as { input_ids: number[][]; attention_mask: number[][]; position_ids?: number[][] };
  const B = ref.input_ids.length;
  const T = ref.input_ids[0]!.length;
  const ids = Int32Array.from(ref.input_ids.flat());
  const mask = ref.attention_mask.flat();
  const positions = Int32Array.from(ref.position_ids?.flat() ?? Array.from({ length: B * T }, (_, i) => i % T));
  const inputs: ForwardInputs = { batch: B, length: T, ids, positions, bias: causalBias(Int32Array.from(mask), B, T) };
  const select: number[] = [];
  for (let p = 0; p < B * T; p++) if (p % T < T - 1 && mask[p] && mask[p + 1]) select.push(p);
  return { inputs, select: Int32Array.from(select), labels: Int32Array.from(select, (p) => ids[p + 1]!) };
}

/** Loss and every trainable variable's gradient (by HF/PEFT name) for one forward/backward pass. */
function gradients(model: LlamaModel, lora: LoraAdapter | null, data: ReturnType<typeof batch>, checkpointLayers: boolean) {
  const trainable = lora ? lora.params : model.params;
  const before = tf.memory().numTensors;
  let keptBytes = 0;
  const start = tf.memory().numBytes;
  const { value, grads } = tf.variableGrads(() => {
    const logits = forward(model, data.inputs, { adapter: lora ?? undefined, frozenBase: lora !== null, select: data.select, checkpointLayers });
    const loss = weightedCrossEntropy(logits, tf.tensor1d(data.labels, 'int32'), tf.fill([data.select.length], 1 / data.select.length) as tf.Tensor1D);
    // Everything the backward pass will read is alive now, and without checkpointing so is every intermediate.
    keptBytes = tf.memory().numBytes - start;
    return loss;
  }, [...trainable.values()]);
  const byVar = new Map([...trainable].map(([name, v]) => [v.name, name]));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(byVar.get(k)!, g.dataSync() as Float32Array);
  const loss = value.dataSync()[0]!;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { loss, grads: out, keptBytes, leaked: tf.memory().numTensors - before };
}

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { diff: number; scale: number } {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), 'the same variables get gradients');
  let diff = 0;
  let scale = 0;
  for (const [name, ga] of a) {
    const gb = b.get(name)!;
    for (let i = 0; i < ga.length; i++) {
      diff = Math.max(diff, Math.abs(ga[i]! - gb[i]!));
      scale = Math.max(scale, Math.abs(ga[i]!));
    }
  }
  return { diff, scale };
}

/** LoRA on every linear module with dropout, and B set off zero so A's gradients are not zero. */
function loraWithDropout(model: LlamaModel): LoraAdapter {
  const cfg: LoraConfig = { r: 4, alpha: 8, dropout: 0.3, target_modules: 'all-linear' };
  const lora = new LoraAdapter(model, cfg, 5);
  const rng = new Rng(11);
  for (const [name, v] of lora.params) {
    if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.tensor(Float32Array.from({ length: v.size }, () => rng.normal() * 0.3), v.shape)));
  }
  lora.training = true;
  return lora;
}

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
