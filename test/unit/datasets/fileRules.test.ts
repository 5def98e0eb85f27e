// Whole-file rules: duplicates, near duplicates, mixed formats/styles/kinds, preference biases,
// prompt diversity, line endings, BOM, blank lines and files that are not JSON Lines at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDataset } from '../../../core/datasets/index.ts';
import { byCode, chat, check, summary } from './helpers.ts';

const J = JSON.stringify;
const fixtures = join(import.meta.dirname, '../../fixtures/datasets');
const topics = ['rivers', 'volcanoes', 'glaciers', 'deserts', 'forests', 'oceans', 'islands', 'canyons', 'lakes', 'caves', 'reefs', 'dunes'];

test('duplicate-record flags later copies (whitespace-insensitive) and relates to the first', () => {
  const a = chat(['user', 'What is 2+2?'], ['assistant', 'Four.']);
  const a2 = J({ messages: [{ role: 'user', content: 'What is  2+2?' }, { role: 'assistant', content: 'Four. ' }] });
  const r = check([a, chat(['user', 'Other'], ['assistant', 'Thing']), a2, a]);
  const dups = byCode(r, 'duplicate-record');
  assert.deepEqual(dups.map((d) => d.range.start.line), [2, 3]);
  assert.equal(dups[0].related?.[0].range.start.line, 0);
  assert.equal(r.summary.duplicates, 2);
  // The same content in another format (alpaca) is a duplicate too: it trains the same thing.
  const alpaca = J({ instruction: 'What is 2+2?', output: 'Four.' });
  assert.equal(byCode(check([a, alpaca]), 'duplicate-record').length, 1);
});

test('near-duplicate finds records that differ by a word, not unrelated ones', () => {
  const base = 'The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden porch at dawn. ' +
    'Later that morning the farmer feeds the chickens, repairs a broken fence near the barn and walks to the village ' +
    'market to sell eggs, cheese and fresh bread to neighbours who have known him for many years.';
  const lines = [J({ text: base }), J({ text: base.replace('farmer', 'farmers') }), J({ text: 'Completely different text about the chemistry of baking bread and why dough needs time to rise properly' })];
  const r = check(lines);
  assert.deepEqual(summary(r), ['1:near-duplicate']);
  assert.equal(r.diagnostics[0].related?.[0].range.start.line, 0);
  assert.equal(r.summary.nearDuplicates, 1);
  assert.deepEqual(summary(check(lines, { nearDuplicates: false })), []);
});

test('mixed formats, mixed styles and records that do not fit the kind', () => {
  const chats = topics.slice(0, 4).map((t) => chat(['user', `Tell me about ${t}`], ['assistant', `Facts about ${t}.`]));
  const r = check([...chats, J({ instruction: 'Describe lakes', output: 'Lakes are still water.' })]);
  assert.deepEqual(summary(r), ['4:mixed-formats']);
  assert.deepEqual(r.diagnostics[0].data, { format: 'alpaca', dominant: 'messages' });

  const prefs = topics.slice(0, 4).map((t) => J({ prompt: `About ${t}?`, chosen: `Yes ${t}`, rejected: `No ${t}` }));
  const conv = J({ prompt: [{ role: 'user', content: 'Q' }], chosen: [{ role: 'assistant', content: 'a' }], rejected: [{ role: 'assistant', content: 'b' }] });
  assert.deepEqual(summary(check([...prefs, conv])), ['4:mixed-styles']);

  const wrong = check([...prefs, J({ text: 'just text' })]);
  assert.deepEqual(summary(wrong), ['4:wrong-kind']);
  assert.deepEqual(summary(check([...prefs, J({ prompt: 'Lonely prompt' })])), ['4:missing-field']);
  assert.equal(check(prefs).summary.kind, 'preference');
});

test('a forced kind or stage overrides detection', () => {
  const lines = [chat(['user', 'Hi'], ['assistant', 'Hello'])];
  const r = check(lines, { stage: 'dpo' });
  assert.equal(r.summary.kind, 'preference');
  assert.equal(r.summary.kindSource, 'forced');
  assert.deepEqual(summary(r), ['0:wrong-kind']);
  assert.deepEqual(summary(check([J({ prompt: 'Solve', completion: 'x' })], { kind: 'prompt-only' })), []);
});

test('length-bias reports the share when chosen is usually longer', () => {
  const biased = topics.map((t, i) => J({ prompt: `Explain ${t}`, chosen: `${t} are interesting because of many detailed reasons number ${i}.`, rejected: `No ${i}.` }));
  const [d] = byCode(check(biased), 'length-bias');
  assert.match(d.message, /100% of pairs \(12 of 12\)/);
  const balanced = topics.map((t, i) => (i % 2 ? J({ prompt: `Explain ${t}`, chosen: `Short ${i}.`, rejected: `A much longer but worse answer about ${t} ${i}.` }) : J({ prompt: `Explain ${t}`, chosen: `A longer and better answer about ${t} ${i}.`, rejected: `Bad ${i}.` })));
  assert.equal(byCode(check(balanced), 'length-bias').length, 0);
});

test('polite-prefix-bias reports the share and the phrase', () => {
  const lines = topics.map((t, i) => J({ prompt: `Explain ${t}`, chosen: i % 2 ? `Sure! ${t} form slowly ${i}.` : `当然，${t} ${i}`, rejected: `${t} are made of cheese and also ${i} other things.` }));
  const [d] = byCode(check(lines), 'polite-prefix-bias');
  assert.match(d.message, /100% of "chosen"/);
  assert.equal((d.data as { chosenShare: number }).chosenShare, 1);
  const neutral = topics.map((t, i) => J({ prompt: `Explain ${t}`, chosen: `${t} form slowly ${i}.`, rejected: `${t} are made of cheese ${i}.` }));
  assert.equal(byCode(check(neutral), 'polite-prefix-bias').length, 0);
});

test('low-prompt-diversity when few distinct prompts', () => {
  const lines = Array.from({ length: 24 }, (_, i) => J({ prompt: `Solve problem ${i % 3}`, answer: String(i), id: i }));
  assert.deepEqual(byCode(check(lines), 'low-prompt-diversity').length, 1);
  const varied = Array.from({ length: 24 }, (_, i) => J({ prompt: `Solve problem ${i}`, answer: String(i) }));
  assert.equal(byCode(check(varied), 'low-prompt-diversity').length, 0);
});

test('BOM, CRLF mixed with LF, blank lines (a trailing newline is fine)', () => {
  const bom = readFileSync(join(fixtures, 'bom.jsonl'));
  const r = checkDataset(bom);
  assert.deepEqual(summary(r), ['0:bom']);
  assert.deepEqual(r.diagnostics[0].range, { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } });
  assert.equal(r.summary.records, 2);

  const mixed = checkDataset(readFileSync(join(fixtures, 'mixed-endings.jsonl'), 'utf8'));
  assert.deepEqual(summary(mixed), ['1:mixed-line-endings']);
  assert.deepEqual(summary(checkDataset('{"text":"a b"}\r\n{"text":"c d"}\r\n')), []);

  assert.deepEqual(summary(checkDataset('{"text":"a b"}\n\n{"text":"c d"}\n')), ['1:empty-line']);
  assert.deepEqual(summary(checkDataset('{"text":"a b"}\n{"text":"c d"}')), []);
});

test('a pretty-printed JSON array and a CSV are called out as not JSON Lines', () => {
  const pretty = checkDataset(readFileSync(join(fixtures, 'pretty.json'), 'utf8'));
  assert.equal(pretty.diagnostics[0].code, 'not-jsonl');
  assert.ok(byCode(pretty, 'json-syntax').length >= 5);
  const csv = checkDataset(readFileSync(join(fixtures, 'table.csv'), 'utf8'));
  assert.equal(csv.diagnostics[0].code, 'not-jsonl');
  assert.match(csv.diagnostics[0].message, /comma-separated/);
});

test('the summary counts formats, styles, severities and length percentiles', () => {
  const lines = Array.from({ length: 100 }, (_, i) => J({ text: 'x'.repeat(i + 1) }));
  const s = check(lines).summary;
  assert.equal(s.records, 100);
  assert.deepEqual(s.formats, { text: 100 });
  assert.deepEqual(s.styles, { standard: 100, conversational: 0 });
  assert.deepEqual([s.chars.p50, s.chars.p90, s.chars.p99, s.chars.max], [50, 90, 99, 100]);
  assert.equal(s.errors + s.warnings + s.infos, 0);
});

test('maxDiagnostics caps the list but keeps exact counts', () => {
  const lines = Array.from({ length: 50 }, () => '{bad');
  const r = check(lines, { maxDiagnostics: 10 });
  assert.equal(r.diagnostics.length, 10);
  assert.equal(r.truncated, true);
  assert.equal(r.summary.errors, 50);
  assert.equal(check(lines).truncated, false);
});
