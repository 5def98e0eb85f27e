// RoPE frequencies and tables against transformers' own functions (modeling_rope_utils).
// Fixture: test/fixtures/engine/make_architectures.py (rope_reference.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeConfig } from '../../../daemon/engine/modelConfig.ts';
import { ropeFrequencies, ropeTables } from '../../../daemon/engine/rope.ts';

const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/engine/rope_reference.json'), 'utf8')) as {
  cases: { name: string; config: Record<string, unknown>; seq_len: number | null; inv_freq: number[]; attention_factor: number }[];
};

function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

test('inv_freq and attention factor match transformers for every rope type', () => {
  const types = new Set(ref.cases.map((c) => (c.config.rope_parameters as { rope_type: string }).rope_type));
  assert.deepEqual([...types].sort(), ['default', 'dynamic', 'linear', 'llama3', 'yarn']);
  for (const { name, config, seq_len, inv_freq, attention_factor } of ref.cases) {
    const { invFreq, attentionScaling } = ropeFrequencies(normalizeConfig({ vocab_size: 8, intermediate_size: 8, num_hidden_layers: 1, ...config }), seq_len ?? 0);
    assert.equal(invFreq.length, inv_freq.length, name);
    let worst = 0;
    for (let i = 0; i < inv_freq.length; i++) worst = Math.max(worst, relDiff(invFreq[i]!, inv_freq[i]!));
    assert.ok(worst <= 1e-6, `${name}: inv_freq off by ${worst} (relative)`);
    assert.ok(relDiff(attentionScaling, attention_factor) <= 1e-12, `${name}: attention factor ${attentionScaling} vs ${attention_factor}`);
  }
  // The cases differ from each other, so the comparison above can tell the types apart.
  const byName = new Map(ref.cases.map((c) => [c.name, c.inv_freq]));
  assert.notDeepEqual(byName.get('dynamic long'), byName.get('default'));
  assert.deepEqual(byName.get('dynamic within max'), byName.get('default'));
});

const base = { vocab_size: 8, hidden_size: 32, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 };

test('tables hold cos/sin of position * inv_freq over both halves, scaled by the attention factor', () => {
  const c = normalizeConfig({ ...base, rope_parameters: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 4, rope_theta: 100 } });
  const { invFreq, attentionScaling } = ropeFrequencies(c);
  assert.ok(attentionScaling > 1.1);
  const positions = Int32Array.from([3, 0, 40, 7]);
  const { cos, sin } = ropeTables(c, positions);
  const hd = 16;
  for (let n = 0; n < positions.length; n++) {
    for (let i = 0; i < hd; i++) {
      const angle = positions[n]! * invFreq[i % 8]!;
      assert.ok(Math.abs(cos[n * hd + i]! - Math.cos(angle) * attentionScaling) < 1e-6);
      assert.ok(Math.abs(sin[n * hd + i]! - Math.sin(angle) * attentionScaling) < 1e-6);
    }
  }
  // Served from the grown cache, a second call with other positions gives the same rows.
  const again = ropeTables(c, Int32Array.from([40, 3, 100]));
  assert.deepEqual(again.cos.subarray(0, 2 * hd), Float32Array.from([...cos.subarray(2 * hd, 3 * hd), ...cos.subarray(0, hd)]));
  const fresh = ropeTables(normalizeConfig({ ...c }), Int32Array.from([100]));
  assert.deepEqual(again.sin.subarray(2 * hd), fresh.sin);
});

test('dynamic scaling follows the longest position of the pass, and only past max_position_embeddings', () => {
  const c = normalizeConfig({ ...base, rope_scaling: { type: 'dynamic', factor: 2 } });
  const plain = normalizeConfig({ ...base });
  const short = ropeTables(c, Int32Array.from([5, 15]));
  assert.deepEqual(short.cos, ropeTables(plain, Int32Array.from([5, 15])).cos);
  const long = ropeTables(c, Int32Array.from([5, 40]));
  const expected = ropeFrequencies(c, 41).invFreq;
  assert.notDeepEqual(expected, ropeFrequencies(plain).invFreq);
  for (let i = 0; i < 8; i++) assert.equal(long.cos[i], Math.fround(Math.cos(Math.fround(5 * expected[i]!))));
  // Back under the limit, the unscaled table again.
  assert.deepEqual(ropeTables(c, Int32Array.from([5, 15])).cos, short.cos);
});
