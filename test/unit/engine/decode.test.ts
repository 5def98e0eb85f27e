// decode.ts's fused one-token step against `forward` with the KV cache: the same logits (1e-5) for
// each Llama-family fixture (GQA, biases, q/k norms, untied head, llama3/yarn RoPE), over left-padded
// batches at several steps, with a LoRA adapter whose B is not zero, and the same greedy tokens as the
// generic path on the real SmolLM2. Nothing is left allocated.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { canDecode, decodeStep, prepareDecode } from '../../../daemon/engine/decode.ts';
import { loadGgufSource } from '../../../daemon/engine/gguf.ts';
import { LoraAdapter } from '../../../daemon/engine/lora.ts';
import {
  checkWeights,
  createModel,
  disposeCache,
  disposeModel,
  emptyCache,
  forward,
  initialWeights,
  normalizeConfig,
  type LinearAdapter,
  type LlamaModel,
} from '../../../daemon/engine/model.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { transposedWeights } from '../../../daemon/engine/ops.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { generateBatch, stepInputs } from '../../../daemon/engine/sample.ts';
import { smollm2Gguf } from '../../helpers/realModels.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../fixtures/engine/architectures');

before(() => useBackend());

function fixture(name: string): LlamaModel {
  const dir = join(root, name);
  const config = normalizeConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  return createModel(config, checkWeights(config, readSafetensors(join(dir, 'model.safetensors')).tensors), false);
}

/**
 * Prefills left-padded `prompts` through `forward` into two caches, then feeds `steps` more tokens per
 * row: one cache through `forward` (T = 1), the other through `decodeStep`. Returns the largest logit
 * difference over all steps and rows.
 */
function worstDiff(model: LlamaModel, prompts: number[][], steps: number, adapter?: LinearAdapter): number {
  const width = Math.max(...prompts.map((p) => p.length));
  const pads = prompts.map((p) => width - p.length);
  const seqs = prompts.map((p, b) => [...new Array<number>(pads[b]!).fill(0), ...p]);
  const padded = pads.some((p) => p > 0);
  const B = prompts.length;
  const reference = emptyCache(model.config);
  const fused = emptyCache(model.config);
  const prompt = stepInputs(seqs, pads, width, 0);
  for (const cache of [reference, fused]) tf.tidy(() => void forward(model, prompt, { cache, adapter, select: prompt.select }));
  // On wasm, what generation hands over: the prompt's transposed copies, partly reused.
  const weights = prepareDecode(model, adapter, transposedWeights(model));
  const rng = new Rng(11);
  let worst = 0;
  for (let n = 0; n < steps; n++) {
    for (const seq of seqs) seq.push(Math.floor(rng.next() * model.config.vocab_size));
    const inp = stepInputs(seqs, pads, 1, reference.length);
    const want = tf.tidy(() => forward(model, inp, { cache: reference, adapter, select: inp.select }).dataSync());
    const got = tf.tidy(() => decodeStep(model, weights, fused, { batch: B, ids: inp.ids, positions: inp.positions, bias: padded ? inp.bias : null }).dataSync());
    assert.equal(got.length, want.length);
    assert.equal(fused.length, reference.length);
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  }
  weights.dispose();
  disposeCache(reference);
  disposeCache(fused);
  return worst;
}

// Rows of different lengths (left padding up to 4) and a row alone.
const batch = [[3, 17, 32, 8, 5, 11], [9, 4], [21, 30, 2, 7]];
const single = [[5, 6, 7, 8, 9, 10, 11]];

for (const [name, what] of [
  ['llama3_bias', 'Llama (GQA, attention and MLP biases, llama3 RoPE, tied head)'],
  ['qwen2', 'Qwen2 (q/k/v biases, theta 1e6, untied head)'],
  ['qwen3_yarn', 'Qwen3 (q/k norms, head_dim 12, yarn)'],
] as const) {
  test(`${what}: the fused step gives forward's logits with the cache`, () => {
    const model = fixture(name);
    const before = tf.memory().numTensors;
    for (const prompts of [batch, single]) {
      const diff = worstDiff(model, prompts, 5);
      console.log(`${name} B=${prompts.length}: max abs diff ${diff.toExponential(2)}`);
      assert.ok(diff <= 1e-5, `${name} with ${prompts.length} rows: logits differ by up to ${diff}`);
    }
    assert.equal(tf.memory().numTensors, before, 'decoding leaks no tensors');
    disposeModel(model);
  });
}

test('a LoRA adapter with non-zero B is merged into the fused weights and gives the adapter forward logits', () => {
  for (const name of ['llama3_bias', 'qwen3_yarn']) {
    const model = fixture(name);
    const lora = new LoraAdapter(model, { r: 4, alpha: 8, dropout: 0, target_modules: 'all-linear' }, 3);
    for (const [n, v] of lora.params) if (n.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.3, 'float32', 5)));
    const before = tf.memory().numTensors;
    const diff = worstDiff(model, batch, 4, lora);
    console.log(`${name} + LoRA: max abs diff ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-5, `${name} with LoRA: logits differ by up to ${diff}`);
    // The adapter matters here, so merging it is what the comparison checks.
    const base = worstDiff(model, batch, 1);
    assert.ok(base <= 1e-5);
    assert.equal(tf.memory().numTensors, before, 'decoding with an adapter leaks no tensors');
    lora.dispose();
    disposeModel(model);
  }
});

test('an adapter the step cannot merge keeps generation on the generic path', () => {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 2), false);
  const opaque: LinearAdapter = { delta: () => null };
  assert.equal(canDecode(model, opaque), false);
  assert.equal(canDecode(model), true);
  disposeModel(model);
});

test('generation through the fused step equals the generic path, batched and alone', () => {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 4), false);
  const lora = new LoraAdapter(model, { r: 2, alpha: 4, dropout: 0, target_modules: ['q_proj', 'v_proj', 'down_proj'] }, 9);
  for (const [n, v] of lora.params) if (n.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.5, 'float32', 6)));
  const prompts = [[5, 80, 81, 82, 3], [7, 7], [100, 101, 102, 103, 104, 105, 106, 107]];
  const opts = { maxNewTokens: 12, temperature: 0, topP: 1, stopIds: [] as number[], rng: new Rng(1) };
  const before = tf.memory().numTensors;
  for (const adapter of [undefined, lora]) {
    const generic = generateBatch(model, prompts, { ...opts, adapter, fusedDecode: false });
    const fused = generateBatch(model, prompts, { ...opts, adapter });
    assert.deepEqual(fused, generic);
    assert.deepEqual(generateBatch(model, [prompts[1]!], { ...opts, adapter }), [generic[1]]);
  }
  assert.equal(tf.memory().numTensors, before, 'generation leaks no tensors');
  lora.dispose();
  disposeModel(model);
});

test('SmolLM2-135M: greedy tokens through the fused step equal the generic path', async () => {
  const source = await loadGgufSource(smollm2Gguf());
  const model = createModel(source.config, source.weights, false);
  source.weights.clear();
  const prompts = ['What is the capital of France?', 'Write a haiku about autumn leaves falling.'].map((p) => source.tokenizer.encodePrompt(p));
  const opts = { maxNewTokens: 12, temperature: 0, topP: 1, stopIds: [] as number[], rng: new Rng(1) };
  const before = tf.memory().numTensors;
  const generic = generateBatch(model, prompts, { ...opts, fusedDecode: false });
  const fused = generateBatch(model, prompts, opts);
  console.log(`SmolLM2 greedy: ${JSON.stringify(fused.map((ids) => source.tokenizer.decode(ids)))}`);
  assert.deepEqual(fused, generic);
  assert.equal(tf.memory().numTensors, before);
  disposeModel(model);
});

