// Reading config.json as transformers does (both versions' forms), and the tensor list it implies.
// Fixtures: test/fixtures/engine/make_architectures.py (config_reference.json holds what
// transformers' AutoConfig settled on for each raw config).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkWeights, headDim, normalizeConfig, parameterShapes, type LlamaConfig } from '../../../daemon/engine/modelConfig.ts';
import { loadModelSource } from '../../../daemon/engine/modelSource.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../../../daemon/engine/safetensors.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/engine');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

const TINY = { vocab_size: 10, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2 };

test('rope parameters and head_dim agree with transformers for both config forms', () => {
  const { cases } = readJson(join(fixtures, 'config_reference.json')) as {
    cases: { name: string; raw: Record<string, unknown>; rope_parameters: Record<string, unknown>; head_dim: number }[];
  };
  assert.ok(cases.length >= 10);
  for (const { name, raw, rope_parameters: theirs, head_dim } of cases) {
    const c = normalizeConfig(raw);
    assert.equal(c.rope_theta, theirs.rope_theta, name);
    assert.equal(headDim(c), head_dim, name);
    const ours: Record<string, unknown> = c.rope_scaling ? { ...c.rope_scaling } : { rope_type: 'default' };
    const expected = Object.fromEntries(Object.entries(theirs).filter(([k]) => k !== 'rope_theta' && k !== 'type'));
    assert.deepEqual(ours, expected, name);
  }
});

test('a folder saved by transformers 5 and the same config in transformers 4 form read the same', () => {
  const dir = join(fixtures, 'architectures/llama3_bias');
  const v5 = readJson(join(dir, 'config.json'));
  const v4 = readJson(join(dir, 'config_v4.json'));
  assert.ok('rope_parameters' in v5 && !('rope_theta' in v5), 'fixture is in transformers 5 form');
  assert.ok('rope_scaling' in v4 && !('rope_parameters' in v4), 'fixture is in transformers 4 form');
  const a = normalizeConfig(v5);
  const b = normalizeConfig(v4);
  for (const key of ['rope_theta', 'rope_scaling', 'head_dim', 'attention_bias', 'mlp_bias', 'tie_word_embeddings'] as const) {
    assert.deepEqual(a[key], b[key], key);
  }
  assert.deepEqual(a.rope_scaling, { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 });
  assert.ok(!('rope_parameters' in a), 'the normalized config keeps one rope form');
});

test('normalizing twice changes nothing (configs are saved from the normalized form)', () => {
  for (const dir of ['llama3_bias', 'qwen2', 'qwen3_yarn']) {
    const once = normalizeConfig(readJson(join(fixtures, 'architectures', dir, 'config.json')));
    assert.deepEqual(normalizeConfig(JSON.parse(JSON.stringify(once))), once, dir);
  }
});

test('each model type has its own biases and norms', () => {
  const names = (raw: Record<string, unknown>) => [...parameterShapes(normalizeConfig({ ...TINY, ...raw })).keys()].filter((n) => !n.endsWith('proj.weight') && n.startsWith('model.layers.0.'));
  const layer = (suffixes: string[]) => suffixes.map((s) => `model.layers.0.${s}`).sort();
  const base = ['input_layernorm.weight', 'post_attention_layernorm.weight'];
  assert.deepEqual(names({ model_type: 'llama' }).sort(), layer(base));
  assert.deepEqual(
    names({ model_type: 'llama', attention_bias: true, mlp_bias: true }).sort(),
    layer([...base, ...['q', 'k', 'v', 'o'].map((p) => `self_attn.${p}_proj.bias`), ...['gate', 'up', 'down'].map((p) => `mlp.${p}_proj.bias`)]),
  );
  // Qwen2: q/k/v biases whatever attention_bias says (its transformers class ignores the key), no o bias.
  for (const attention_bias of [undefined, true, false]) {
    assert.deepEqual(names({ model_type: 'qwen2', attention_bias }).sort(), layer([...base, ...['q', 'k', 'v'].map((p) => `self_attn.${p}_proj.bias`)]));
  }
  assert.deepEqual(names({ model_type: 'mistral', attention_bias: true, mlp_bias: true }).sort(), layer(base));
  assert.deepEqual(names({ model_type: 'qwen3', head_dim: 4 }).sort(), layer([...base, 'self_attn.q_norm.weight', 'self_attn.k_norm.weight']));
  assert.deepEqual(parameterShapes(normalizeConfig({ ...TINY, model_type: 'qwen3', head_dim: 6 })).get('model.layers.0.self_attn.q_proj.weight'), [12, 16]);
  assert.equal(normalizeConfig({ ...TINY, model_type: 'smollm' }).model_type, 'llama');
  assert.equal(normalizeConfig(TINY).model_type, 'llama');
});

test('configs this engine would compute wrongly are one clear error', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ model_type: 'gemma' }, /gemma model; this engine trains llama, mistral, qwen2, qwen3/],
    [{ model_type: 'qwen3_moe' }, /qwen3_moe model/],
    [{ rope_scaling: { rope_type: 'longrope', short_factor: [], long_factor: [] } }, /rope_type "longrope"; this engine computes default, linear, dynamic, yarn, llama3/],
    [{ rope_parameters: { rope_type: 'proportional', rope_theta: 1e4 } }, /rope_type "proportional"/],
    [{ rope_scaling: { type: 'linear' } }, /"linear" needs a factor/],
    [{ rope_scaling: { rope_type: 'llama3', factor: 8 } }, /low_freq_factor/],
    [{ partial_rotary_factor: 0.5 }, /partial_rotary_factor 0.5/],
    [{ hidden_act: 'gelu' }, /hidden_act "gelu"/],
    [{ model_type: 'qwen2', use_sliding_window: true }, /sliding-window/],
    [{ model_type: 'qwen2', layer_types: ['sliding_attention'] }, /sliding-window/],
    [{ hidden_size: 15, num_attention_heads: 2 }, /not a multiple of num_attention_heads 2; give head_dim/],
    [{ num_key_value_heads: 3, num_attention_heads: 4, hidden_size: 16 }, /not a multiple of num_key_value_heads 3/],
    [{ vocab_size: '10' }, /needs a number for vocab_size/],
  ];
  for (const [raw, message] of cases) assert.throws(() => normalizeConfig({ ...TINY, ...raw }), message, JSON.stringify(raw));
});

function weightsFor(c: LlamaConfig): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  let k = 0;
  for (const [name, shape] of parameterShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(name, { shape, data: Float32Array.from({ length: n }, () => (k++ % 7) / 7) });
  }
  return out;
}

test('a tensor the config does not use is an error naming it and the setting that would use it', () => {
  const llama = normalizeConfig({ ...TINY, model_type: 'llama' });
  const bias = { shape: [16], data: new Float32Array(16) };
  const cases: [LlamaConfig, string, RegExp][] = [
    [llama, 'model.layers.0.self_attn.o_proj.bias', /model\.layers\.0\.self_attn\.o_proj\.bias, which this llama config does not use but attention_bias: true \(model_type llama or qwen3\) would/],
    [llama, 'model.layers.0.self_attn.q_proj.bias', /or model_type qwen2/],
    [llama, 'model.layers.0.mlp.down_proj.bias', /mlp_bias: true/],
    [llama, 'model.layers.0.self_attn.k_norm.weight', /model_type qwen3/],
    [llama, 'model.layers.1.input_layernorm.weight', /more than num_hidden_layers 1/],
    [llama, 'lm_head.bias', /no architecture this engine supports/],
    [normalizeConfig({ ...TINY, model_type: 'qwen2' }), 'model.layers.0.self_attn.o_proj.bias', /this qwen2 config does not use/],
  ];
  for (const [c, name, message] of cases) {
    const weights = weightsFor(c);
    weights.set(name, bias);
    assert.throws(() => checkWeights(c, weights), message, name);
  }
  const weights = weightsFor(llama);
  weights.set('model.layers.0.mlp.up_proj.bias', bias);
  weights.set('model.layers.0.mlp.gate_proj.bias', bias);
  assert.throws(() => checkWeights(llama, weights), /\(and 1 more unused tensor\)/);
  // The rotary buffer older transformers saved is derived from the config, not a weight.
  const withBuffer = weightsFor(llama);
  withBuffer.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [4], data: new Float32Array(4) });
  assert.deepEqual([...checkWeights(llama, withBuffer).keys()], [...parameterShapes(llama).keys()]);
});

test('a tied model may ship lm_head.weight only as a copy of the embedding', () => {
  const tied = normalizeConfig({ ...TINY, tie_word_embeddings: true });
  const weights = weightsFor(tied);
  const embed = weights.get('model.embed_tokens.weight')!;
  weights.set('lm_head.weight', { shape: [...embed.shape], data: Float32Array.from(embed.data) });
  const kept = checkWeights(tied, weights);
  assert.ok(!kept.has('lm_head.weight'));
  assert.equal(kept.size, parameterShapes(tied).size);
  const head = Float32Array.from(embed.data);
  head[5]! += 1e-3;
  weights.set('lm_head.weight', { shape: [...embed.shape], data: head });
  assert.throws(() => checkWeights(tied, weights), /lm_head\.weight that differs from model\.embed_tokens\.weight, but config\.json sets tie_word_embeddings: true.*set it to false/);
  // Untied: lm_head is an ordinary weight.
  const untied = normalizeConfig({ ...TINY, tie_word_embeddings: false });
  assert.ok(checkWeights(untied, weightsFor(untied)).has('lm_head.weight'));
});

test('loading a model folder whose weights carry a bias its config does not declare fails naming it', () => {
  const src = join(fixtures, 'architectures/qwen2');
  const dir = mkdtempSync(join(tmpdir(), 'anneal-unknown-weight-'));
  try {
    const tensors = readSafetensors(join(src, 'model.safetensors')).tensors;
    tensors.set('model.layers.1.self_attn.o_proj.bias', { shape: [32], data: new Float32Array(32) });
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    writeFileSync(join(dir, 'config.json'), readFileSync(join(src, 'config.json')));
    assert.throws(() => loadModelSource(dir, 0), (err: Error) => err.message.startsWith(`${dir}: `) && /model\.layers\.1\.self_attn\.o_proj\.bias, which this qwen2 config/.test(err.message));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...readJson(join(src, 'config.json')), model_type: 'phi3' }));
    assert.throws(() => loadModelSource(dir, 0), /phi3 model; this engine trains/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
