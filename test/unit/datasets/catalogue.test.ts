// The catalogue in docs/diagnostics.md documents every code with its real severity, and
// LLaMA-Factory dataset_info.json mappings are honoured.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_CODES, findDatasetInfo, type DatasetInfoEntry } from '../../../core/datasets/index.ts';
import type { FileAccess } from '../../../core/fileAccess.ts';
import { byCode, check, summary } from './helpers.ts';

test('docs/diagnostics.md lists every code with its severity', () => {
  const doc = readFileSync(join(import.meta.dirname, '../../../docs/diagnostics.md'), 'utf8');
  for (const [code, severity] of Object.entries(DATASET_CODES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${severity} \\|`), code);
  }
});

const J = JSON.stringify;

test('dataset_info.json: ShareGPT with role/content tags', () => {
  const info: DatasetInfoEntry = {
    file_name: 'chat.jsonl',
    formatting: 'sharegpt',
    columns: { messages: 'messages' },
    tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' },
  };
  const good = J({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] });
  const bad = J({ messages: [{ role: 'user', content: 'Hi' }, { role: 'asistant', content: 'Hello' }] });
  const r = check([good, bad], { datasetInfo: info });
  assert.deepEqual(summary(r), ['1:role-typo']);
  const [d] = byCode(r, 'role-typo');
  assert.equal(bad.slice(d.range.start.character, d.range.end.character), '"asistant"');
  assert.equal(r.records[0].format, 'sharegpt');
  assert.deepEqual(r.records[0].normalized, { format: 'conversation', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] });
});

test('dataset_info.json: ranking alpaca becomes preference pairs', () => {
  const info: DatasetInfoEntry = { file_name: 'p.jsonl', ranking: true, columns: { prompt: 'question', chosen: 'good', rejected: 'bad' } };
  const r = check([J({ question: 'Capital of Chile?', good: 'Santiago.', bad: 'Lima.' }), J({ question: 'Q', good: 'same', bad: 'same' })], { datasetInfo: info });
  assert.equal(r.summary.kind, 'preference');
  assert.deepEqual(summary(r), ['1:identical-pair']);
  // LLaMA-Factory renders the instruction through the chat template: a conversational pair.
  assert.deepEqual(r.records[0].normalized, {
    format: 'preference',
    prompt: [{ role: 'user', content: 'Capital of Chile?' }],
    chosen: [{ role: 'assistant', content: 'Santiago.' }],
    rejected: [{ role: 'assistant', content: 'Lima.' }],
  });
});

test('findDatasetInfo reads the entry for a file from the same folder', () => {
  const files: FileAccess = {
    readText: (p) => (p === 'data/dataset_info.json' ? J({ mine: { file_name: 'x.jsonl', formatting: 'sharegpt' } }) : undefined),
    exists: () => true,
    isDirectory: () => false,
    listDir: () => [],
  };
  assert.equal(findDatasetInfo('data/x.jsonl', files)?.formatting, 'sharegpt');
  assert.equal(findDatasetInfo('data/y.jsonl', files), undefined);
});
