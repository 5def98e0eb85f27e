// The model against Hugging Face: weights saved by transformers (read with our safetensors reader)
// must give the same logits and loss as LlamaForCausalLM, with and without a PEFT LoRA adapter.
// Fixture: test/fixtures/engine/make_reference.py.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { causalBias, createModel, disposeModel, forward, normalizeConfig, type LlamaModel } from '../../../daemon/engine/model.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { useBackend } from './helpers.ts';

const dir = join(import.meta.dirname, '../../fixtures/engine/llama_tiny');
const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
  input_ids: number[][];
  attention_mask: number[][];
  logits: number[];
  loss: number;
  lora_logits: number[];
  lora_loss: number;
};
const B = ref.input_ids.length;
const T = ref.input_ids[0]!.length;

function load(): LlamaModel {
  const config = normalizeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return createModel(config, readSafetensors(join(dir, 'model.safetensors')).tensors, true);
}

function inputs() {
  const ids = Int32Array.from(ref.input_ids.flat());
  const segments = Int32Array.from(ref.attention_mask.flat());
  const positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
  return { batch: B, length: T, ids, positions, bias: causalBias(segments, B, T) };
}

/** Largest |ours - theirs| over non-padding positions, and HF-style mean loss. */
function compare(logits: tf.Tensor2D, expected: number[]): { maxDiff: number; loss: number } {
  const ours = logits.dataSync();
  const V = logits.shape[1];
  const mask = ref.attention_mask.flat();
  let maxDiff = 0;
  for (let p = 0; p < B * T; p++) {
    if (!mask[p]) continue;
    for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(ours[p * V + v]! - expected[p * V + v]!));
  }
  // labels: next token where both positions are real tokens
  const labels: number[] = [];
  const weights: number[] = [];
  for (let p = 0; p < B * T; p++) {
    const ok = p % T < T - 1 && mask[p] && mask[p + 1];
    labels.push(ok ? ref.input_ids.flat()[p + 1]! : 0);
    weights.push(ok ? 1 : 0);
  }
  const count = weights.reduce((a, b) => a + b, 0);
  const loss = weightedCrossEntropy(logits, tf.tensor1d(labels, 'int32'), tf.tensor1d(weights.map((w) => w / count))).dataSync()[0]!;
  return { maxDiff, loss };
}

before(async () => {
  await useBackend();
});

test('logits and loss match transformers LlamaForCausalLM (GQA, untied head, right padding)', () => {
  const model = load();
  tf.tidy(() => {
    const { maxDiff, loss } = compare(forward(model, inputs()), ref.logits);
    assert.ok(maxDiff < 1e-4, `logits differ by up to ${maxDiff}`);
    console.log(`HF logits max abs diff ${maxDiff.toExponential(2)}, loss ${loss} vs ${ref.loss}`);
    assert.ok(Math.abs(loss - ref.loss) < 1e-4, `loss ${loss} vs transformers ${ref.loss}`);
  });
  disposeModel(model);
});

test('a PEFT-saved LoRA adapter loads and gives PEFT logits', () => {
  const model = load();
  const adapterDir = join(dir, 'adapter');
  const cfg = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
  const lora = new LoraAdapter(model, { r: cfg.r, alpha: cfg.lora_alpha, dropout: 0, target_modules: cfg.target_modules }, 0);
  lora.loadPeftTensors(readSafetensors(join(adapterDir, 'adapter_model.safetensors')).tensors);
  tf.tidy(() => {
    const { maxDiff, loss } = compare(forward(model, inputs(), { adapter: lora, frozenBase: true }), ref.lora_logits);
    assert.ok(maxDiff < 1e-4, `LoRA logits differ by up to ${maxDiff}`);
    assert.ok(Math.abs(loss - ref.lora_loss) < 1e-4, `LoRA loss ${loss} vs PEFT ${ref.lora_loss}`);
  });
  lora.dispose();
  disposeModel(model);
});

test('LoRA gradients through the fused frozen-base op (projectFrozen) equal those of the plain product plus delta', () => {
  const model = load();
  const lora = new LoraAdapter(model, { r: 2, alpha: 6, dropout: 0, target_modules: 'all-linear' }, 7);
  for (const [name, v] of lora.params) if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.2, 'float32', 3)));
  const vars = [...lora.params.values()];
  // frozenBase routes adapted modules through ops.linearLora (where the backend uses it); without it,
  // proj multiplies by the base weight and adds LoRA's delta, each op differentiated by tfjs.
  const gradsOf = (frozenBase: boolean) =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(forward(model, inputs(), { adapter: lora, frozenBase }))) as tf.Scalar, vars);
      return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) };
    });
  const fused = gradsOf(true);
  const plain = gradsOf(false);
  assert.ok(Math.abs(fused.loss - plain.loss) <= 1e-5 * Math.abs(plain.loss));
  let worst = 0;
  let largest = 0;
  plain.grads.forEach((g, i) => g.forEach((x, j) => ((worst = Math.max(worst, Math.abs(x - fused.grads[i]![j]!))), (largest = Math.max(largest, Math.abs(x))))));
  assert.ok(largest > 0 && worst <= 1e-4 * largest, `LoRA gradients differ by ${worst} (largest ${largest})`);
  lora.dispose();
  disposeModel(model);
});

test('LoRA forward equals the forward pass with merged weights W + (alpha/r) B A', () => {
  const model = load();
  const lora = new LoraAdapter(model, { r: 2, alpha: 6, dropout: 0.1, target_modules: 'all-linear' }, 7);
  // B starts at zero: the adapter must not change the model yet. (On native TensorFlow the adapted
  // layers run as graphs, layerGraph.ts, whose optimized kernels round differently from the eager ones.)
  tf.tidy(() => {
    const base = forward(model, inputs());
    const adapted = forward(model, inputs(), { adapter: lora, frozenBase: true });
    assert.ok(tf.max(tf.abs(tf.sub(base, adapted))).dataSync()[0]! <= 1e-5 * tf.max(tf.abs(base)).dataSync()[0]!);
  });
  for (const [name, v] of lora.params) if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.2, 'float32', 3)));
  const viaAdapter = tf.tidy(() => forward(model, inputs(), { adapter: lora, frozenBase: true }).dataSync());
  const merged = new Map<string, tf.Tensor2D>();
  for (const name of lora.params.keys()) {
    const mod = name.replace(/\.lora_[AB]\.weight$/, '');
    if (!merged.has(mod)) merged.set(mod, lora.mergedWeight(mod));
  }
  for (const [mod, w] of merged) model.params.get(`${mod}.weight`)!.assign(w);
  const viaMerged = tf.tidy(() => forward(model, inputs()).dataSync());
  let maxDiff = 0;
  for (let i = 0; i < viaMerged.length; i++) maxDiff = Math.max(maxDiff, Math.abs(viaMerged[i]! - viaAdapter[i]!));
  assert.ok(maxDiff < 1e-4, `merged and adapter forward differ by ${maxDiff}`);
  for (const w of merged.values()) w.dispose();
  lora.dispose();
  disposeModel(model);
});
