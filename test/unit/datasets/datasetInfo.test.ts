// LLaMA-Factory dataset_info.json in full: formatting, renamed columns, ShareGPT tags, ranking pairs,
// KTO tags, media columns and pre-training entries, read through the one entry point every reader of a
// data file uses (datasetOptionsFor). Fixtures: test/fixtures/datasets/llamafactory/ (hand-written).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDataset, datasetOptionsFor, type DatasetInfoEntry } from '../../../core/datasets/index.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { check, covered, summary } from './helpers.ts';

const dir = join(import.meta.dirname, '../../fixtures/datasets/llamafactory');
const J = JSON.stringify;

function checkFixture(name: string) {
  const path = join(dir, name);
  return checkDataset(readFileSync(path, 'utf8'), datasetOptionsFor(path, nodeFiles));
}

test('every file described by the fixture dataset_info.json checks clean, with its kind and format', () => {
  const expected: Record<string, [string, string]> = {
    'notes_pt.jsonl': ['text', 'text'],
    'recipes_alpaca.jsonl': ['sft', 'alpaca'],
    'support_chat.jsonl': ['sft', 'sharegpt'],
    'tone_pairs.jsonl': ['preference', 'preference-explicit'],
    'facts_pairs.jsonl': ['preference', 'preference-explicit'],
    'tone_kto.jsonl': ['unpaired-preference', 'unpaired-conversation'],
    'photo_chat.jsonl': ['sft', 'sharegpt'],
  };
  for (const [name, [kind, format]] of Object.entries(expected)) {
    const r = checkFixture(name);
    assert.deepEqual(summary(r), [], name);
    assert.equal(r.summary.kind, kind, name);
    assert.deepEqual(Object.keys(r.summary.formats), [format], name);
    assert.ok(r.records.every((rec) => rec.normalized), `${name}: every record is trainable`);
  }
});

test('without its dataset_info.json the pre-training file is still text, but renamed columns are not understood', () => {
  const text = readFileSync(join(dir, 'recipes_alpaca.jsonl'), 'utf8');
  assert.equal(checkDataset(text).summary.errors > 0, true);
  assert.equal(checkDataset(readFileSync(join(dir, 'notes_pt.jsonl'), 'utf8')).summary.kind, 'text');
});

test('datasetOptionsFor finds the entry by file_name, and nothing for other files', () => {
  assert.equal(datasetOptionsFor(join(dir, 'tone_kto.jsonl'), nodeFiles).datasetInfo?.columns?.kto_tag, 'label');
  assert.equal(datasetOptionsFor(join(dir, 'unlisted.jsonl'), nodeFiles).datasetInfo, undefined);
  assert.equal(datasetOptionsFor(join(import.meta.dirname, 'x.jsonl'), nodeFiles).datasetInfo, undefined);
  const forced: DatasetInfoEntry = { formatting: 'sharegpt' };
  assert.equal(datasetOptionsFor(join(dir, 'tone_kto.jsonl'), nodeFiles, { datasetInfo: forced }).datasetInfo, forced);
});

test('pre-training entry ({"columns": {"prompt": "text"}}): text records, normalised to text, errors at the text column', () => {
  const info: DatasetInfoEntry = { file_name: 'c.jsonl', columns: { prompt: 'text' } };
  const good = J({ text: 'Some plain paragraph of a web page.' });
  const empty = J({ text: '   ' });
  const r = check([good, empty], { datasetInfo: info });
  assert.equal(r.summary.kind, 'text');
  assert.deepEqual(r.records[0].normalized, { format: 'text', text: 'Some plain paragraph of a web page.' });
  assert.deepEqual(summary(r), ['1:empty-content']);
  assert.equal(covered([good, empty].join('\n'), r.diagnostics[0]), '"   "');
  // An alpaca record under the same entry (it has the default response column) is still alpaca.
  const alpaca = check([J({ text: 'Q?', output: 'A.' })], { datasetInfo: info });
  assert.deepEqual(Object.keys(alpaca.summary.formats), ['alpaca']);
});

test('renamed alpaca columns: normalised to a conversation with system and history; errors at the file\'s own keys', () => {
  const r = checkFixture('recipes_alpaca.jsonl');
  assert.deepEqual(r.records[2].normalized, {
    format: 'conversation',
    messages: [
      { role: 'user', content: 'How much is a cup of flour?' },
      { role: 'assistant', content: 'About 125 grams.' },
      { role: 'user', content: 'And for sugar?' },
      { role: 'assistant', content: 'One cup of white sugar is about 200 grams.' },
    ],
  });
  const info = datasetOptionsFor(join(dir, 'recipes_alpaca.jsonl'), nodeFiles).datasetInfo!;
  const bad = J({ question: 'Q?', context: '', answer: 7 });
  const b = check([bad], { datasetInfo: info });
  assert.deepEqual(summary(b), ['0:wrong-type']);
  assert.equal(covered(bad, b.diagnostics[0]), '7');
});

test('ShareGPT with role/content tags and function_call/tool tag values', () => {
  const r = checkFixture('support_chat.jsonl');
  const tool = r.records[1].normalized;
  assert.equal(tool?.format, 'conversation');
  if (tool?.format !== 'conversation') return;
  assert.deepEqual(tool.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
  assert.deepEqual(tool.messages[1].tool_calls, [{ type: 'function', function: { name: 'weather', arguments: { city: 'Lyon' } } }]);
  assert.deepEqual(r.records[0].normalized?.format === 'conversation' && r.records[0].normalized.messages[0], { role: 'system', content: 'You are a support agent for a small shop.' });
  const info = datasetOptionsFor(join(dir, 'support_chat.jsonl'), nodeFiles).datasetInfo!;
  const bad = J({ messages: [{ role: 'user', content: 'Hi' }, { role: 'asistant', content: 'Hello' }] });
  const b = check([bad], { datasetInfo: info });
  assert.deepEqual(summary(b), ['0:role-typo']);
  assert.equal(covered(bad, b.diagnostics[0]), '"asistant"');
});

test('ranking sharegpt: a conversational pair with the system turn first; identical pair flagged at "rejected"', () => {
  const r = checkFixture('tone_pairs.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'preference',
    prompt: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'Is tomato a fruit?' }],
    chosen: [{ role: 'assistant', content: 'Botanically yes; in cooking it is used as a vegetable.' }],
    rejected: [{ role: 'assistant', content: 'No, it is a vegetable.' }],
  });
  const info: DatasetInfoEntry = { formatting: 'sharegpt', ranking: true };
  const same = J({ conversations: [{ from: 'human', value: 'Q' }], chosen: { from: 'gpt', value: 'A' }, rejected: { from: 'gpt', value: 'A' } });
  const emptyTurn = J({ system: 'Be brief.', conversations: [{ from: 'human', value: '' }], chosen: { from: 'gpt', value: 'A' }, rejected: { from: 'gpt', value: 'B' } });
  const b = check([same, emptyTurn], { datasetInfo: info });
  assert.deepEqual(summary(b), ['0:identical-pair', '1:empty-content']);
  assert.equal(covered(same, b.diagnostics[0]), '{"from":"gpt","value":"A"}');
  assert.equal(covered([same, emptyTurn].join('\n'), b.diagnostics[1]), '""');
});

test('ranking alpaca with renamed chosen/rejected: the instruction is a user turn; an empty side is flagged at its column', () => {
  const r = checkFixture('facts_pairs.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'preference',
    prompt: [{ role: 'user', content: 'Name the largest planet.\nIn our solar system.' }],
    chosen: [{ role: 'assistant', content: 'Jupiter.' }],
    rejected: [{ role: 'assistant', content: 'Saturn.' }],
  });
  const info = datasetOptionsFor(join(dir, 'facts_pairs.jsonl'), nodeFiles).datasetInfo!;
  const bad = J({ instruction: 'Q?', input: '', better: 'A.', worse: '' });
  const b = check([bad], { datasetInfo: info });
  assert.deepEqual(summary(b), ['0:empty-content']);
  assert.equal(covered(bad, b.diagnostics[0]), '""');
});

test('kto_tag: each conversation is an unpaired example (prompt = all but the last turn); undesirable ones are labelled, never SFT targets', () => {
  const r = checkFixture('tone_kto.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'unpaired-preference',
    prompt: [{ role: 'user', content: 'Summarise: lunch is provided.' }],
    completion: [{ role: 'assistant', content: 'Whatever, figure it out yourself.' }],
    label: false,
  });
  const info = datasetOptionsFor(join(dir, 'tone_kto.jsonl'), nodeFiles).datasetInfo!;
  const sft = check(readFileSync(join(dir, 'tone_kto.jsonl'), 'utf8'), { datasetInfo: info, stage: 'sft' });
  assert.ok(sft.diagnostics.some((d) => d.code === 'wrong-kind'), 'an SFT run refuses KTO data');
  const bad = J({ messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }, { role: 'user', content: 'more?' }], label: true });
  const b = check([bad], { datasetInfo: info });
  assert.deepEqual(summary(b), ['0:no-completion']);
  assert.equal(covered(bad, b.diagnostics[0]), '"user"');
});

test('media columns (images renamed to "pictures") are known, not unknown fields', () => {
  const r = checkFixture('photo_chat.jsonl');
  assert.deepEqual(summary(r), []);
  const plain = check(readFileSync(join(dir, 'photo_chat.jsonl'), 'utf8'));
  assert.ok(plain.diagnostics.some((d) => d.code === 'unknown-field'), 'without the entry, "pictures" is unknown');
});

test("the trainer's reader takes the same entry: KTO examples, ranked pairs and pre-training text as they are meant", async () => {
  const { readRecords } = await import('../../../daemon/engine/data.ts');
  const kto = readRecords(join(dir, 'tone_kto.jsonl'), 'kto');
  assert.deepEqual(kto.map((r) => r.record.format === 'unpaired-preference' && r.record.label), [true, false]);
  assert.ok(readRecords(join(dir, 'facts_pairs.jsonl'), 'dpo').every((r) => r.record.format === 'preference'));
  assert.deepEqual(readRecords(join(dir, 'notes_pt.jsonl'), 'cpt').map((r) => r.record.format), ['text', 'text', 'text']);
  assert.throws(() => readRecords(join(dir, 'tone_kto.jsonl'), 'sft'), /error/);
});
