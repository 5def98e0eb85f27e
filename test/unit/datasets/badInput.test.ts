// Hostile input: nothing may throw, every bad line gets a diagnostic at the right place, good lines
// around it get none.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDataset } from '../../../core/datasets/index.ts';
import { byCode, covered, summary } from './helpers.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/datasets');
const good = (i: number) => JSON.stringify({ text: `good record number ${i} with some words` });

function around(bad: string): string {
  return [good(1), bad, good(2)].join('\n') + '\n';
}

test('json-syntax gives the exact column and the rest of the file is still checked', () => {
  const bad = '{"text": "hello" "more": 1}';
  const text = around(bad);
  const r = checkDataset(text);
  assert.deepEqual(summary(r), ['1:json-syntax']);
  assert.equal(r.diagnostics[0].range.start.character, bad.indexOf('"more"'));
  assert.equal(r.summary.records, 2);
  const unterminated = around('{"text": "no end');
  assert.deepEqual(summary(checkDataset(unterminated)), ['1:json-syntax']);
  const nbsp = around('{"text":\u00a0"x"}');
  const [d] = checkDataset(nbsp).diagnostics;
  assert.equal(d.range.start.character, 8);
});

test('invalid UTF-8 and NUL bytes are reported per line from bytes', () => {
  const bytes = readFileSync(join(fixtures, 'bytes.jsonl'));
  const r = checkDataset(bytes);
  assert.deepEqual(summary(r), ['1:invalid-utf8', '3:nul-byte']);
  assert.equal(r.diagnostics[0].range.start.character, '{"text": "bad '.length);
  assert.equal(r.diagnostics[1].range.start.character, '{"text": "nul '.length);
  // Text that was already decoded with replacement characters gets the softer warning.
  assert.deepEqual(summary(checkDataset(around('{"text": "broken \uFFFD here and there"}'))), ['1:replacement-char']);
});

test('a 10 MB line is checked without trouble', () => {
  const big = JSON.stringify({ text: 'lorem ipsum '.repeat(900_000) });
  assert.ok(big.length > 10_000_000);
  const r = checkDataset(around(big));
  assert.deepEqual(summary(r), ['1:line-too-large', '1:too-long-chars']);
  const broken = big.slice(0, -2);
  const r2 = checkDataset(around(broken));
  assert.deepEqual(summary(r2), ['1:line-too-large', '1:json-syntax']);
});

test('20,000 levels of nesting neither crash nor hide the problem', () => {
  const deepArray = '['.repeat(20_000) + ']'.repeat(20_000);
  const deepObject = '{"text":'.repeat(20_000) + '"x"' + '}'.repeat(20_000);
  const deepBroken = '{"a":'.repeat(20_000) + '1' + '}'.repeat(19_999);
  const r = checkDataset([good(1), deepArray, deepObject, deepBroken, good(2)].join('\n'));
  assert.deepEqual(summary(r), ['1:not-object', '2:wrong-type', '3:json-syntax']);
  const deepMessages = `{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ${'['.repeat(5000) + ']'.repeat(5000)}}]}`;
  assert.deepEqual(summary(checkDataset(around(deepMessages))), ['1:wrong-type', '1:wrong-kind']);
});

test('top-level strings, arrays, numbers and null are not objects', () => {
  for (const bad of ['"text"', '[{"text": "x"}]', '3.14', 'null', 'true']) {
    const r = checkDataset(around(bad));
    assert.deepEqual(summary(r), ['1:not-object'], bad);
    assert.equal(covered(around(bad), r.diagnostics[0]), bad);
  }
});

test('CRLF lines: ranges exclude the carriage return', () => {
  const text = `${good(1)}\r\n{"text": 5}\r\n${good(2)}\r\n`;
  const r = checkDataset(text);
  assert.deepEqual(summary(r), ['1:wrong-type']);
  assert.equal(covered(text, r.diagnostics[0]), '5');
});

test('blank and whitespace-only lines are warnings, not errors', () => {
  const r = checkDataset(`${good(1)}\n   \n\t\n${good(2)}\n`);
  assert.deepEqual(summary(r), ['1:empty-line', '2:empty-line']);
  assert.equal(r.summary.blankLines, 2);
  assert.equal(byCode(r, 'empty-line')[0].severity, 'warning');
});

test('an empty file and a file of only newlines are fine / flagged', () => {
  assert.deepEqual(summary(checkDataset('')), []);
  assert.equal(checkDataset('').summary.records, 0);
  assert.deepEqual(summary(checkDataset('\n\n')), ['0:empty-line', '1:empty-line']);
});
