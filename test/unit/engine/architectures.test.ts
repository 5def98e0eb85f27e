// Each supported architecture's logits against transformers: folders saved by `save_pretrained`
// (transformers 5's config form) with randomised biases and norms, run at positions far from 0 so RoPE
// scaling shows. Fixture: test/fixtures/engine/make_architectures.py.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { causalBias, checkWeights, createModel, disposeModel, forward, normalizeConfig, type LlamaConfig } from '../../../daemon/engine/model.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../fixtures/engine/architectures');

interface Reference {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  logits: number[];
}

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** Largest |ours - transformers'| over the non-padding positions. */
function maxDiff(name: string, config: LlamaConfig, dropWeights: (n: string) => boolean = () => false): number {
  const dir = join(root, name);
  const ref = readJson(join(dir, 'reference.json')) as Reference;
  const all = readSafetensors(join(dir, 'model.safetensors')).tensors;
  for (const n of [...all.keys()]) if (dropWeights(n)) all.delete(n);
  const weights = checkWeights(config, all);
  const model = createModel(config, weights, false);
  const B = ref.input_ids.length;
  const T = ref.input_ids[0]!.length;
  const mask = ref.attention_mask.flat();
  const inputs = {
    batch: B,
    length: T,
    ids: Int32Array.from(ref.input_ids.flat()),
    positions: Int32Array.from(ref.position_ids.flat()),
    bias: causalBias(Int32Array.from(mask), B, T),
  };
  const ours = tf.tidy(() => forward(model, inputs).dataSync());
  disposeModel(model);
  const V = config.vocab_size;
  assert.equal(ours.length, ref.logits.length);
  let worst = 0;
  for (let p = 0; p < B * T; p++) {
    if (!mask[p]) continue;
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(ours[p * V + v]! - ref.logits[p * V + v]!));
  }
  return worst;
}

const configOf = (name: string, file = 'config.json') => normalizeConfig(readJson(join(root, name, file)));

before(async () => {
  await useBackend();
});

test('Llama with llama3 rope scaling, attention and MLP biases, tied head matches transformers', () => {
  const config = configOf('llama3_bias');
  const diff = maxDiff('llama3_bias', config);
  console.log(`llama3_bias: max abs diff ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-4, `logits differ by up to ${diff}`);
  // The same weights read through transformers 4's config form give the same logits.
  const v4 = maxDiff('llama3_bias', configOf('llama3_bias', 'config_v4.json'));
  assert.ok(v4 <= 1e-4, `with config_v4.json logits differ by up to ${v4}`);
  // The fixture is sensitive to what it tests: without the scaling, or without biases, it fails.
  assert.ok(maxDiff('llama3_bias', { ...config, rope_scaling: null }) > 1e-2);
  assert.ok(maxDiff('llama3_bias', { ...config, attention_bias: false }, (n) => /attn\.\w+\.bias$/.test(n)) > 1e-2);
});

test('Qwen2 with q/k/v biases, rope_theta 1e6 and an untied head matches transformers', () => {
  const config = configOf('qwen2');
  assert.equal(config.rope_theta, 1e6);
  const diff = maxDiff('qwen2', config);
  console.log(`qwen2: max abs diff ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-4, `logits differ by up to ${diff}`);
  assert.ok(maxDiff('qwen2', { ...config, rope_theta: 10000 }) > 1e-2, 'rope_theta must matter');
});

test('Qwen3 with q/k norms, head_dim 12 (not hidden/heads) and yarn scaling matches transformers', () => {
  const config = configOf('qwen3_yarn');
  assert.equal(config.head_dim, 12);
  assert.equal(config.rope_scaling?.rope_type, 'yarn');
  const diff = maxDiff('qwen3_yarn', config);
  console.log(`qwen3_yarn: max abs diff ${diff.toExponential(2)}`);
  assert.ok(diff <= 1e-4, `logits differ by up to ${diff}`);
  // A Llama reading of the same weights (no q/k norms) is far off.
  assert.ok(maxDiff('qwen3_yarn', { ...config, model_type: 'llama' }, (n) => /_norm\.weight$/.test(n) && n.includes('self_attn')) > 1e-2);
  // So is yarn without its attention factor (same frequencies, cos/sin unscaled).
  assert.ok(maxDiff('qwen3_yarn', { ...config, rope_scaling: { ...config.rope_scaling!, attention_factor: 1 } }) > 1e-2);
});

test('training reaches the Qwen3 q/k norm weights (finite, non-zero gradients)', () => {
  const dir = join(root, 'qwen3_yarn');
  const config = configOf('qwen3_yarn');
  const model = createModel(config, checkWeights(config, readSafetensors(join(dir, 'model.safetensors')).tensors), true);
  const ids = Int32Array.from([3, 17, 32, 8]);
  const inputs = { batch: 1, length: 4, ids, positions: Int32Array.from([0, 1, 2, 3]), bias: causalBias(Int32Array.from([1, 1, 1, 1]), 1, 4) };
  const names = ['model.layers.0.self_attn.q_norm.weight', 'model.layers.1.self_attn.k_norm.weight'];
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(forward(model, inputs))) as tf.Scalar, names.map((n) => model.params.get(n)!));
  for (const n of names) {
    const g = grads[model.params.get(n)!.name]!.dataSync();
    assert.ok(g.every(Number.isFinite) && g.some((v) => v !== 0), `${n} gets no gradient`);
  }
  tf.dispose(grads);
  disposeModel(model);
});
