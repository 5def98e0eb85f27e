// GGUF in: every supported GGML type dequantized like the `gguf` Python package, llama.cpp's Q/K row
// order undone, and the real SmolLM2-135M-Instruct Q4_1 file giving transformers' token ids (through
// the tokenizer and chat template rebuilt from its metadata) and transformers' logits.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { dequantize, GGML, halfToFloat } from '../../../daemon/engine/dequantize.ts';
import { ggufConfig, hfTensorName, loadGgufSource, readGgufHeader, readGgufWeights, unpermuteRows } from '../../../daemon/engine/gguf.ts';
import { causalBias, createModel, disposeModel, forward } from '../../../daemon/engine/model.ts';
import type { ModelSource } from '../../../daemon/engine/modelSource.ts';
import { generate } from '../../../daemon/engine/sample.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { smollm2Gguf } from '../../helpers/realModels.ts';
import { useBackend } from './helpers.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gguf');

describe('GGML dequantization', () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, 'quants.json'), 'utf8')) as Record<string, { type: string; shape: number[]; values: number[] }>;

  test('every supported type decodes to the gguf package values', async () => {
    const header = await readGgufHeader(join(FIXTURES, 'quants.gguf'));
    const file = readFileSync(join(FIXTURES, 'quants.gguf'));
    const seen = new Set<string>();
    for (const t of header.tensors) {
      const ref = reference[t.name]!;
      assert.deepEqual(t.shape, ref.shape, t.name);
      const count = t.shape.reduce((a, b) => a * b, 1);
      const got = dequantize(file.subarray(t.offset), t.type, count);
      let worst = 0;
      for (let i = 0; i < count; i++) worst = Math.max(worst, Math.abs(got[i]! - ref.values[i]!) / Math.max(1, Math.abs(ref.values[i]!)));
      assert.ok(worst < 1e-6, `${ref.type}: worst relative difference ${worst}`);
      seen.add(ref.type);
    }
    assert.deepEqual([...seen].sort(), ['BF16', 'F16', 'F32', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_0']);
  });

  test('halves: normal, subnormal, signed zero and infinity', () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  });

  test('a short buffer or a partial block is refused', () => {
    assert.throws(() => dequantize(new Uint8Array(10), GGML.Q8_0, 32), /Q8_0 data is 10 bytes, 34 expected/);
    assert.throws(() => dequantize(new Uint8Array(100), GGML.Q4_K, 100), /not a whole number of Q4_K blocks/);
  });
});

test("unpermuteRows undoes llama.cpp's per-head interleaving of rotary halves", () => {
  const heads = 2;
  const perHead = 6;
  const cols = 3;
  const hf = Float32Array.from({ length: heads * perHead * cols }, (_, i) => i);
  // llama.cpp's converter: within each head, rows [first half | second half] become interleaved pairs.
  const permuted = new Float32Array(hf.length);
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < perHead; r++) {
      const half = perHead / 2;
      const src = r < half ? 2 * r : 2 * (r - half) + 1;
      permuted.set(hf.subarray((h * perHead + r) * cols, (h * perHead + r + 1) * cols), (h * perHead + src) * cols);
    }
  }
  assert.notDeepEqual(permuted, hf);
  assert.deepEqual(unpermuteRows(permuted, heads * perHead, cols, heads), hf);
});

test('llama.cpp tensor names map to Hugging Face names; unknown ones map to nothing', () => {
  assert.equal(hfTensorName('token_embd.weight'), 'model.embed_tokens.weight');
  assert.equal(hfTensorName('blk.12.attn_k.weight'), 'model.layers.12.self_attn.k_proj.weight');
  assert.equal(hfTensorName('blk.3.attn_q.bias'), 'model.layers.3.self_attn.q_proj.bias');
  assert.equal(hfTensorName('blk.0.ffn_norm.weight'), 'model.layers.0.post_attention_layernorm.weight');
  assert.equal(hfTensorName('blk.0.attn_k_norm.weight'), 'model.layers.0.self_attn.k_norm.weight');
  assert.equal(hfTensorName('output.weight'), 'lm_head.weight');
  assert.equal(hfTensorName('blk.0.ffn_gate_exps.weight'), undefined);
});

describe('SmolLM2-135M-Instruct Q4_1 GGUF against transformers loading the same file', () => {
  const ref = JSON.parse(readFileSync(join(FIXTURES, 'smollm2.json'), 'utf8')) as {
    chat: { messages: { role: string; content: string }[]; ids: number[] }[];
    prompt: { messages: { role: string; content: string }[]; ids: number[] };
    text: { text: string; ids: number[] }[];
    logits: { ids: number[]; stride: number; argmax: number[]; logsumexp: number[]; sampled: number[][] };
    greedy: { ids: number[]; text: string };
  };
  let source: ModelSource;
  before(async () => {
    await useBackend();
    source = await loadGgufSource(smollm2Gguf());
  });

  test('config from the metadata', async () => {
    const header = await readGgufHeader(smollm2Gguf());
    const c = ggufConfig(header);
    assert.equal(c.model_type, 'llama');
    assert.equal(c.num_hidden_layers, 30);
    assert.equal(c.num_key_value_heads, 3);
    assert.equal(c.rope_theta, 100000);
    assert.equal(c.tie_word_embeddings, true);
    assert.equal(source.config.vocab_size, 49152);
  });

  test("token ids equal transformers' for chat records, a generation prompt and plain text", () => {
    for (const { messages, ids } of ref.chat) {
      assert.deepEqual(source.tokenizer.encodeRecord({ format: 'conversation', messages } as never, { lossOn: 'all' }).ids, ids);
    }
    assert.deepEqual(source.tokenizer.encodePrompt(ref.prompt.messages as never), ref.prompt.ids);
    for (const { text, ids } of ref.text) assert.deepEqual(source.tokenizer.encode(text), ids, JSON.stringify(text));
    assert.equal(source.tokenizer.decode(ref.greedy.ids, { skipSpecial: true }), ref.greedy.text);
  });

  test('logits within 1e-4 of transformers (1.5e-4 on native TensorFlow), and the same greedy answer', (t) => {
    const model = createModel(source.config, source.weights, false);
    try {
      const ids = Int32Array.from(ref.logits.ids);
      const T = ids.length;
      const logits = tf.tidy(() =>
        forward(model, { batch: 1, length: T, ids, positions: Int32Array.from({ length: T }, (_, i) => i), bias: causalBias(new Int32Array(T).fill(1), 1, T) }).arraySync(),
      ) as number[][];
      let worst = 0;
      for (let t = 0; t < T; t++) {
        const row = logits[t]!;
        let best = 0;
        for (let v = 1; v < row.length; v++) if (row[v]! > row[best]!) best = v;
        assert.equal(best, ref.logits.argmax[t], `argmax at position ${t}`);
        ref.logits.sampled[t]!.forEach((z, k) => (worst = Math.max(worst, Math.abs(row[k * ref.logits.stride]! - z))));
      }
      t.diagnostic(`worst logit difference ${worst.toExponential(2)} on ${tf.getBackend()}`);
      // oneDNN's matmuls sum in another order than PyTorch's: 30 layers leave ~1e-4 on logits of ~20.
      assert.ok(worst < (tf.getBackend() === 'tensorflow' ? 1.5e-4 : 1e-4), `worst logit difference ${worst}`);
      const answer = generate(model, ref.logits.ids, { maxNewTokens: ref.greedy.ids.length, temperature: 0, topP: 1, stopIds: source.tokenizer.stopIds, rng: new Rng(1) });
      assert.deepEqual(answer, ref.greedy.ids.filter((id) => !source.tokenizer.stopIds.includes(id)));
    } finally {
      disposeModel(model);
    }
  });

  test('an unknown tensor is an error naming it', async () => {
    const header = await readGgufHeader(smollm2Gguf());
    header.tensors = [{ ...header.tensors[0]!, name: 'blk.0.ffn_gate_exps.weight' }];
    assert.throws(() => readGgufWeights(header), /tensor blk\.0\.ffn_gate_exps\.weight that the llama architecture does not use/);
  });
});
