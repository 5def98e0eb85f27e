// DatasetModel: after any sequence of edits the incremental report equals a fresh check of the same
// text, and one-line edits in a 100,000-record file update the report.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDataset, DatasetModel, type DatasetReport } from '../../../core/datasets/index.ts';
import { prng } from '../../helpers/prng.ts';
import { chat } from './helpers.ts';

function comparable(r: DatasetReport) {
  return { diagnostics: r.diagnostics.map((d) => ({ ...d, message: d.message })), summary: r.summary, records: r.records.map((x) => [x.line, x.format, x.style]) };
}

const pool = [
  chat(['user', 'What is the boiling point of water?'], ['assistant', '100 degrees Celsius at sea level.']),
  chat(['user', 'Hi'], ['asistant', 'Hello']),
  '{"messages": [',
  '',
  JSON.stringify({ instruction: 'Name a color', output: 'Teal' }),
  JSON.stringify({ prompt: 'Q', chosen: 'same', rejected: 'same' }),
  JSON.stringify({ text: 'plain text line for pretraining' }),
  chat(['user', 'Tell me a fact about owls'], ['assistant', 'Owls can rotate their heads about 270 degrees.']),
  '[1,2,3]',
  '{"text": "crlf line"}\r',
];

test('incremental edits give the same report as a fresh check', () => {
  const rand = prng(42);
  const pick = () => pool[Math.floor(rand() * pool.length)];
  let lines = Array.from({ length: 30 }, pick);
  const model = new DatasetModel();
  model.setText(lines.join('\n'));
  for (let step = 0; step < 300; step++) {
    const start = Math.floor(rand() * (lines.length + 1));
    const end = Math.min(lines.length, start + Math.floor(rand() * 3));
    const inserted = Array.from({ length: Math.floor(rand() * 3) }, pick);
    lines = [...lines.slice(0, start), ...inserted, ...lines.slice(end)];
    if (lines.length === 0) lines = [''];
    model.applyEdit(start, end, inserted);
    if (model.lineCount === 0) model.setText('');
    if (step % 10 === 0) assert.deepEqual(comparable(model.report()), comparable(checkDataset(lines.join('\n'))), `step ${step}`);
  }
  assert.deepEqual(comparable(model.report()), comparable(checkDataset(lines.join('\n'))));
});

test('recordAt returns the normalized record of a line, undefined for non-records', () => {
  const model = new DatasetModel();
  model.setText([pool[0], '{bad', pool[4]].join('\n'));
  assert.equal(model.recordAt(0)?.format, 'messages');
  assert.equal(model.recordAt(1), undefined);
  const alpaca = model.recordAt(2);
  assert.equal(alpaca?.line, 2);
  assert.deepEqual(alpaca?.normalized, { format: 'conversation', messages: [{ role: 'user', content: 'Name a color' }, { role: 'assistant', content: 'Teal' }] });
  assert.equal(alpaca?.range.end.character, pool[4].length);
});

test('one-line edits in a 100,000-record file update the report incrementally', () => {
  const rand = prng(7);
  const words = ['river', 'stone', 'light', 'garden', 'engine', 'planet', 'music', 'window', 'forest', 'signal', 'paper', 'bridge'];
  const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');
  const lines = Array.from({ length: 100_000 }, (_, i) => chat(['user', `Question ${i}: ${sentence(12)}?`], ['assistant', sentence(30)]));
  const model = new DatasetModel();
  model.setText(lines.join('\n') + '\n');
  model.report();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const line = 50_000 + i;
    const started = performance.now();
    model.applyEdit(line, line + 1, [chat(['user', 'Edited question?'], ['asistant', `Edited answer ${i}`])]);
    const r = model.report();
    times.push(performance.now() - started);
    assert.ok(r.diagnostics.some((d) => d.code === 'role-typo' && d.range.start.line === line));
    // Earlier edits stay reported: the report aggregates cached facts rather than forgetting them.
    assert.equal(r.diagnostics.filter((d) => d.code === 'role-typo').length, i + 1);
  }
  times.sort((a, b) => a - b);
  // Speed is the benchmarks' business (npm run bench: lsp, validate); here it is only printed.
  console.log(`one-line edit + report on 100k records: median ${times[2].toFixed(1)} ms`);
});
