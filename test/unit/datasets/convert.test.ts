// The quick fix to TRL's canonical form: every convertible record of every fixture format converts to
// a record that checks clean and normalises to what the original did (so training is unchanged);
// records whose meaning TRL cannot hold are left alone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertRecord } from '../../../core/datasets/convert.ts';
import { checkDataset, type NormalizedRecord } from '../../../core/datasets/index.ts';
import { summary } from './helpers.ts';

const dir = join(import.meta.dirname, '../../fixtures/datasets/formats');
const J = JSON.stringify;

/** The normalized record with per-message weights left out (TRL has none; the defaults are dropped). */
function withoutWeights(r: NormalizedRecord | undefined): unknown {
  return JSON.parse(JSON.stringify(r, (k, v) => (k === 'loss_weight' || k === 'weight' ? undefined : v)));
}

const cases: [string, string, string | undefined][] = [
  ['llamafactory_v1_sft.jsonl', 'messages', 'messages'],
  ['sharegpt_ranking.jsonl', 'preference', 'preference-explicit'],
  ['kto_messages.jsonl', 'unpaired-preference', 'unpaired-preference'],
  ['chosen_rejected_messages.jsonl', 'preference', 'preference-explicit'],
  ['openai_preference.jsonl', 'preference', 'preference-explicit'],
  ['axolotl_dpo.jsonl', 'preference', 'preference-explicit'],
  ['openai_functions.jsonl', 'messages', 'messages'],
];

for (const [name, form, format] of cases) {
  test(`${name}: converted to TRL's ${form} form, clean, and normalised the same`, () => {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const original = checkDataset(lines.join('\n'));
    const converted: string[] = [];
    lines.forEach((line, i) => {
      const c = convertRecord(line);
      if (name === 'openai_functions.jsonl' && i > 0) {
        // Already TRL's (tool_calls) or carrying a non-default weight TRL cannot express: left alone.
        assert.equal(c, undefined, `line ${i + 1}`);
        converted.push(line);
        return;
      }
      assert.ok(c, `line ${i + 1} converts`);
      assert.equal(c.form, form);
      converted.push(c.text);
    });
    const after = checkDataset(converted.join('\n'));
    assert.deepEqual(summary(after), []);
    assert.equal(after.summary.kind, original.summary.kind);
    if (format) assert.ok(after.summary.formats[format as keyof typeof after.summary.formats]! > 0);
    after.records.forEach((r, i) => assert.deepEqual(withoutWeights(r.normalized), withoutWeights(original.records[i].normalized), `${name} line ${i + 1}`));
  });
}

test('legacy functions become TRL tools; OpenAI input.tools move to the record', () => {
  const line = readFileSync(join(dir, 'openai_functions.jsonl'), 'utf8').split('\n')[0];
  const out = JSON.parse(convertRecord(line)!.text);
  assert.equal(out.functions, undefined);
  assert.equal(out.tools[0].type, 'function');
  assert.equal(out.tools[0].function.name, 'local_time');
  const pref = readFileSync(join(dir, 'openai_preference.jsonl'), 'utf8').split('\n')[0];
  const p = JSON.parse(convertRecord(pref)!.text);
  assert.deepEqual(Object.keys(p), ['prompt', 'chosen', 'rejected', 'tools', 'parallel_tool_calls']);
});

test('segments: "context then one trained piece" becomes prompt/completion; other label patterns are left alone', () => {
  const [one, two] = readFileSync(join(dir, 'axolotl_segments.jsonl'), 'utf8').split('\n');
  assert.deepEqual(JSON.parse(convertRecord(one!)!.text), { prompt: '<s>Question: what colour is a ripe banana?\nAnswer: ', completion: 'Yellow.</s>' });
  assert.equal(convertRecord(two!), undefined);
});

test('an assistant turn with loss_weight 0 has no TRL equivalent: not converted', () => {
  const line = J({ messages: [{ role: 'user', content: [{ type: 'text', value: 'q' }] }, { role: 'assistant', content: [{ type: 'text', value: 'a' }], loss_weight: 0 }] });
  assert.equal(convertRecord(line), undefined);
});
