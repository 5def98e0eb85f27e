// The side-by-side chat's judgements as preference records: TRL's conversational shape, refused when
// Anneal's dataset checker finds an error, appended to the file without touching what is already there.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkDataset } from '../../../core/datasets/check.ts';
import { appendRecord, checkRecord, preferenceRecord, RecordRefused } from '../../../extension/client/panels/judgementRecord.ts';

const dir = mkdtempSync(join(tmpdir(), 'anneal-judgements-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a judgement is a conversational preference record; the system prompt leads the prompt when given', () => {
  assert.deepEqual(preferenceRecord('', 'Capital of France?', 'Paris.', 'Lyon.'), {
    prompt: [{ role: 'user', content: 'Capital of France?' }],
    chosen: [{ role: 'assistant', content: 'Paris.' }],
    rejected: [{ role: 'assistant', content: 'Lyon.' }],
  });
  assert.deepEqual(preferenceRecord('Be brief.', 'Q', 'a', 'b').prompt, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Q' }]);
  const checked = checkRecord(preferenceRecord('Be brief.', 'Q', 'a', 'b'));
  assert.ok(checked.ok);
  const report = checkDataset(checked.line + '\n', { kind: 'preference' });
  assert.deepEqual(report.records.map((r) => [r.format, r.style]), [['preference-explicit', 'conversational']]);
});

test('the checker refuses what would teach nothing: identical sides, an empty answer', () => {
  const same = checkRecord(preferenceRecord('', 'Q', 'same', 'same'));
  assert.equal(same.ok, false);
  assert.match(same.ok ? '' : same.errors.join(' '), /"chosen" and "rejected" are identical/);
  const empty = checkRecord(preferenceRecord('', 'Q', '', 'b'));
  assert.equal(empty.ok, false);
  assert.match(empty.ok ? '' : empty.errors.join(' '), /empty/);
  const file = join(dir, 'refused.jsonl');
  assert.throws(() => appendRecord(file, preferenceRecord('', 'Q', 'same', 'same')), (e: unknown) => e instanceof RecordRefused && /not written/.test(e.message));
  assert.throws(() => readFileSync(file), /ENOENT/, 'a refused record creates no file');
});

test('records are appended: the file is created with its folder, earlier bytes stay, a missing final newline is added first', () => {
  const file = join(dir, 'nested', 'judgements.jsonl');
  assert.deepEqual(appendRecord(file, preferenceRecord('', 'one', 'a', 'b')), { line: 1, warnings: [] });
  assert.equal(appendRecord(file, preferenceRecord('', 'two', 'c', 'd')).line, 2);
  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[2], '');
  assert.equal(JSON.parse(lines[1]!).prompt[0].content, 'two');

  const handWritten = join(dir, 'hand.jsonl');
  const before = '{"prompt": "x", "chosen": "y", "rejected": "z"}';
  writeFileSync(handWritten, before);
  assert.equal(appendRecord(handWritten, preferenceRecord('', 'Q', 'a', 'b')).line, 2);
  const text = readFileSync(handWritten, 'utf8');
  assert.ok(text.startsWith(before + '\n'), 'the bytes already there are kept as they were');
  assert.equal(checkDataset(text, { kind: 'preference' }).summary.errors, 0);
  assert.equal(text.trimEnd().split('\n').length, 2);
});
