// The k-quant export (daemon/export/ggufKQuants.ts, ggufQuant.ts placeTensors):
// - each block encoder's bytes read back by the engine's dequantizer: data a block can hold exactly
//   comes back exactly (the bit layout), Gaussian weights within each format's expected error, finer
//   formats closer;
// - the per-tensor mix llama-quantize picks for its Q4_K_M / Q4_K_S / Q5_K_M / Q6_K file types, and its
//   fallbacks for rows that are not whole super-blocks of 256;
// - a q4_k_m GGUF of a model whose rows are whole super-blocks (256 wide, random weights): the types in
//   the file, and llama.cpp (node-llama-cpp) continuing each prompt with the greedy tokens Anneal
//   computes when it loads that same file.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHATML_TEMPLATE } from '../../../core/tokenize/template.ts';
import { tinyTokenizer, tinyTokenizerFiles } from '../../../core/tokenize/index.ts';
import { dequantize, GGML, ggmlTypeName } from '../../../daemon/engine/dequantize.ts';
import { readGgufHeader } from '../../../daemon/engine/gguf.ts';
import { normalizeConfig, parameterShapes } from '../../../daemon/engine/model.ts';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { writeMergedFolder } from '../../../daemon/export/hfFolder.ts';
import { quantizeQ4_K, quantizeQ5_0, quantizeQ5_1, quantizeQ5_K, quantizeQ6_K } from '../../../daemon/export/ggufKQuants.ts';
import { encodeTensor, placeTensors, quantType } from '../../../daemon/export/ggufQuant.ts';
import { useBackend } from '../engine/helpers.ts';
import { llamaCppRun } from './llamaCpp.ts';
import { annealReference, PROMPTS } from './reference.ts';

/** A seeded stream of uniform numbers in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(n: number, std: number, seed: number): Float32Array {
  const u = uniform(seed);
  return Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
}

const rms = (a: Float32Array, b?: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - (b ? b[i]! : 0)) ** 2, 0) / a.length);

describe('k-quant blocks', () => {
  test('values a block can hold exactly come back exactly (layout of scales, mins, nibbles, high bits)', () => {
    const u = uniform(7);
    const int = (n: number) => Math.floor(u() * n);
    // Q4_K / Q5_K: x = d * sc * q - dmin * m with every sub-block using q = 0 and q = nmax, the largest
    // scale and min at 63 (so the super-block scales are the chosen ones).
    for (const [name, encode, type, nmax] of [['Q4_K', quantizeQ4_K, GGML.Q4_K, 15], ['Q5_K', quantizeQ5_K, GGML.Q5_K, 31]] as const) {
      const x = new Float32Array(512);
      for (let b = 0; b < 2; b++) {
        const [d, dmin] = [2 ** -10, 2 ** -11];
        for (let j = 0; j < 8; j++) {
          const sc = j === 3 ? 63 : 1 + int(63);
          const m = j === 5 ? 63 : int(64);
          for (let l = 0; l < 32; l++) x[b * 256 + j * 32 + l] = d * sc * (l === 0 ? 0 : l === 1 ? nmax : int(nmax + 1)) - dmin * m;
        }
      }
      assert.deepEqual(dequantize(encode(x), type, x.length), x, name);
    }
    // Q6_K: x = d * sc * (q - 32) with the largest |scale| at -128 (d = 2^-12) and q spanning -32..31.
    const x6 = new Float32Array(256);
    for (let j = 0; j < 16; j++) {
      const sc = j === 9 ? -128 : -(1 + int(127));
      for (let l = 0; l < 16; l++) x6[j * 16 + l] = 2 ** -12 * sc * (l === 0 ? -32 : l === 1 ? 31 : int(64) - 32);
    }
    assert.deepEqual(dequantize(quantizeQ6_K(x6), GGML.Q6_K, 256), x6, 'Q6_K');
    // Q5_0: the largest magnitude -16 d; Q5_1: min and max at q 0 and 31.
    const x50 = Float32Array.from({ length: 64 }, (_, i) => 2 ** -8 * (i % 32 === 0 ? -16 : int(32) - 16));
    assert.deepEqual(dequantize(quantizeQ5_0(x50), GGML.Q5_0, 64), x50, 'Q5_0');
    const x51 = Float32Array.from({ length: 64 }, (_, i) => 2 ** -8 * (i % 32 === 0 ? 0 : i % 32 === 1 ? 31 : int(32)) - 0.5);
    assert.deepEqual(dequantize(quantizeQ5_1(x51), GGML.Q5_1, 64), x51, 'Q5_1');
  });

  test('Gaussian weights: each format within its expected error, finer formats closer', () => {
    const x = gaussian(256 * 256, 0.02, 3);
    const sigma = rms(x);
    const err: Record<string, number> = {};
    for (const type of [GGML.Q8_0, GGML.Q6_K, GGML.Q5_K, GGML.Q5_1, GGML.Q5_0, GGML.Q4_K, GGML.Q4_0]) {
      err[ggmlTypeName(type)] = rms(dequantize(encodeTensor(x, type), type, x.length), x) / sigma;
    }
    console.log(`RMSE / RMS of N(0, 0.02) weights: ${Object.entries(err).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
    // Uniform rounding error is step / sqrt(12); a sub-block of 32 Gaussian values spans about 4.1
    // sigma (16 values: 3.5), so a b-bit asymmetric format's step is about 4.1 sigma / (2^b - 1).
    const expected = (span: number, levels: number) => span / (levels - 1) / Math.sqrt(12);
    assert.ok(err.Q4_K! < expected(4.1, 16), `Q4_K ${err.Q4_K}`);
    assert.ok(err.Q5_K! < expected(4.1, 32), `Q5_K ${err.Q5_K}`);
    assert.ok(err.Q6_K! < expected(3.5, 64) * 1.2, `Q6_K ${err.Q6_K}`);
    assert.ok(err.Q4_K! < err.Q4_0!, 'Q4_K (scale and min per 32, fitted) beats Q4_0 (one scale per 32)');
    assert.ok(err.Q5_K! < err.Q5_0! && err.Q5_K! < err.Q4_K!);
    assert.ok(err.Q8_0! < err.Q6_K! && err.Q6_K! < err.Q5_K!);
  });
});

/** GGUF tensors of a Llama of `layers` layers, `hidden` wide (tied: no output.weight). */
function llamaTensors(layers: number, hidden: number, ffn: number, tied: boolean): { name: string; shape: number[] }[] {
  const out = [{ name: 'token_embd.weight', shape: [1000, hidden] }];
  for (let i = 0; i < layers; i++) {
    out.push({ name: `blk.${i}.attn_norm.weight`, shape: [hidden] }, { name: `blk.${i}.attn_q.weight`, shape: [hidden, hidden] }, { name: `blk.${i}.attn_v.weight`, shape: [hidden / 4, hidden] });
    out.push({ name: `blk.${i}.ffn_up.weight`, shape: [ffn, hidden] }, { name: `blk.${i}.ffn_down.weight`, shape: [hidden, ffn] });
  }
  if (!tied) out.push({ name: 'output.weight', shape: [1000, hidden] });
  return out;
}

describe('which type each tensor gets', () => {
  const typesOf = (quant: string, tensors: { name: string; shape: number[] }[]) => new Map([...placeTensors(tensors, quantType(quant))].map(([k, v]) => [k, ggmlTypeName(v.type)]));
  const layersWith = (types: Map<string, string>, kind: string, type: string) => [...types].filter(([k, v]) => k.endsWith(`${kind}.weight`) && v === type).map(([k]) => Number(k.split('.')[1]));

  test('q4_k_m: Q6_K for the head and for attn_v / ffn_down of the first and last eighth and every third layer between', () => {
    const types = typesOf('q4_k_m', llamaTensors(32, 512, 1024, false));
    const more = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    assert.deepEqual(layersWith(types, 'attn_v', 'Q6_K'), more);
    assert.deepEqual(layersWith(types, 'ffn_down', 'Q6_K'), more);
    assert.equal(layersWith(types, 'attn_v', 'Q4_K').length, 32 - more.length);
    assert.equal(types.get('output.weight'), 'Q6_K');
    assert.equal(types.get('token_embd.weight'), 'Q4_K');
    assert.equal(types.get('blk.0.attn_norm.weight'), 'F32');
    assert.ok([...types].filter(([k]) => /attn_q|ffn_up/.test(k)).every(([, v]) => v === 'Q4_K'));
  });

  test('q4_k_s, q5_k_m, q6_k', () => {
    const s = typesOf('q4_k_s', llamaTensors(16, 512, 1024, false));
    assert.deepEqual(layersWith(s, 'attn_v', 'Q5_K'), [0, 1, 2, 3]);
    assert.deepEqual(layersWith(s, 'ffn_down', 'Q5_K'), [0, 1]);
    assert.equal(s.get('output.weight'), 'Q6_K');
    const m5 = typesOf('q5_k_m', llamaTensors(16, 512, 1024, true));
    assert.deepEqual(layersWith(m5, 'ffn_down', 'Q6_K'), [0, 1, 4, 7, 10, 13, 14, 15]);
    assert.equal(m5.get('token_embd.weight'), 'Q6_K', 'a tied embedding is quantized as the head');
    assert.ok([...typesOf('q6_k', llamaTensors(4, 512, 1024, false)).values()].every((v) => v === 'Q6_K' || v === 'F32'));
  });

  test('rows that are not whole super-blocks fall back as llama-quantize does (SmolLM2: 576 wide, ffn 1536, tied)', () => {
    const types = typesOf('q4_k_m', llamaTensors(30, 576, 1536, true));
    assert.equal(types.get('token_embd.weight'), 'Q8_0', 'the tied head, 576 wide: Q8_0');
    assert.equal(types.get('blk.5.attn_q.weight'), 'Q5_0', 'Q4_K -> Q5_0');
    assert.equal(types.get('blk.0.attn_v.weight'), 'Q8_0', 'Q6_K -> Q8_0');
    assert.equal(types.get('blk.0.ffn_down.weight'), 'Q6_K', '1536 = 6 super-blocks');
    assert.equal(types.get('blk.4.ffn_down.weight'), 'Q4_K', '(4 - 30 / 8) % 3 is 1');
    assert.equal(typesOf('q5_k_m', llamaTensors(2, 576, 1536, false)).get('blk.0.ffn_up.weight'), 'Q5_1', 'Q5_K -> Q5_1');
    assert.equal(typesOf('q4_k_m', llamaTensors(2, 48, 96, false)).get('blk.0.ffn_up.weight'), 'F16', 'not even blocks of 32: F16');
    assert.equal(typesOf('q8_0', llamaTensors(2, 48, 96, false)).get('blk.0.ffn_up.weight'), 'F16');
  });
});

describe('a q4_k_m GGUF of a model 256 wide', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-kq-'));
  const folder = join(work, 'wide');
  let gguf: string;
  before(async () => {
    await useBackend();
    const tokenizer = tinyTokenizer();
    const config = normalizeConfig({
      model_type: 'llama', vocab_size: tokenizer.vocabSize, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2,
      rms_norm_eps: 1e-6, rope_theta: 10000, max_position_embeddings: 1024, tie_word_embeddings: false, eos_token_id: tokenizer.eosId, pad_token_id: tokenizer.padId,
    });
    // Random weights: embedding and head wide (std 1) so most greedy choices are far from ties, the
    // layers at std 0.06 so they move the logits without making the model chaotic; norms at 1.
    let seed = 11;
    const std = (name: string) => (/embed_tokens|lm_head/.test(name) ? 1 : 0.06);
    const weights = new Map([...parameterShapes(config)].map(([name, shape]) => [name, { shape, data: shape.length === 1 ? new Float32Array(shape[0]!).fill(1) : gaussian(shape.reduce((a, b) => a * b, 1), std(name), seed++) }]));
    const files = tinyTokenizerFiles();
    mkdirSync(folder);
    writeMergedFolder(folder, {
      config, weights, tokenizer, chatTemplate: CHATML_TEMPLATE, chatTemplateIsFallback: false, merged: null,
      tokenizerFiles: new Map([['tokenizer.json', JSON.stringify(files.tokenizerJson)], ['tokenizer_config.json', JSON.stringify(files.tokenizerConfig)]]),
    });
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('holds Q4_K and Q6_K tensors as the mix places them, general.file_type 15', async () => {
    const result = await exportRun(folder, { format: 'gguf', quant: 'q4_k_m', out: join(work, 'q4'), stateDir: work });
    gguf = result.gguf!;
    assert.deepEqual(result.notes, [], 'every matrix is whole super-blocks');
    const header = await readGgufHeader(gguf);
    assert.equal(header.metadata['general.file_type'], 15);
    const type = (name: string) => ggmlTypeName(header.tensors.find((t) => t.name === name)!.type);
    assert.equal(type('output.weight'), 'Q6_K');
    assert.equal(type('token_embd.weight'), 'Q4_K');
    // 4 layers: the last eighth is layer 3, and (i - 0) % 3 == 2 adds layer 2.
    assert.deepEqual([0, 1, 2, 3].map((i) => type(`blk.${i}.attn_v.weight`)), ['Q4_K', 'Q4_K', 'Q6_K', 'Q6_K']);
    assert.deepEqual([0, 1, 2, 3].map((i) => type(`blk.${i}.ffn_down.weight`)), ['Q4_K', 'Q4_K', 'Q6_K', 'Q6_K']);
    assert.equal(type('blk.1.attn_q.weight'), 'Q4_K');
    assert.equal(type('blk.1.attn_norm.weight'), 'F32');
  });

  test('llama.cpp continues each prompt with the greedy tokens Anneal computes from the same file', async () => {
    // llama.cpp rounds the activations to 8 bits (Q8_K) for its k-quant dot products, which moves the
    // logits of this random model by up to a few tenths (q8_0 files by as much): tokens are compared up
    // to the first step where Anneal's top-2 margin is under 0.5, a near-tie that rounding may flip.
    const reference = await annealReference(gguf, 0);
    const { results } = await llamaCppRun(gguf, PROMPTS.conversations, reference.map((r) => r.text), 16);
    let compared = 0;
    results.forEach((r, i) => {
      const ref = reference[i]!;
      assert.deepEqual(r.textIds, ref.ids);
      for (let k = 0; k < Math.min(16, ref.greedy.length) && ref.margins[k]! >= 0.5; k++, compared++) {
        assert.equal(r.greedy[k], ref.greedy[k], `conversation ${i}, token ${k}: llama.cpp ${r.greedy.slice(0, k + 1)}, Anneal ${ref.greedy.slice(0, k + 1)} (margin ${ref.margins[k]!.toFixed(3)})`);
      }
    });
    assert.ok(compared >= 12, `only ${compared} tokens before a near-tie`);
    const equal = results.reduce((n, r, i) => n + r.greedy.filter((t, k) => t === reference[i]!.greedy[k]).length, 0);
    console.log(`q4_k_m 256-wide: llama.cpp = Anneal on the ${compared} greedy tokens before a near-tie (${equal} of ${results.reduce((n, r) => n + r.greedy.length, 0)} equal in all)`);
  });
});
