// Loading from a model folder on disk: the files a folder may hold, the errors a user can cause, the cache.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { forgetTokenizer, loadTokenizerFromFolder, tinyTokenizerFiles } from '../../../core/tokenize/index.ts';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-tok-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
const { chat_template: template, ...configWithoutTemplate } = tokenizerConfig;

test('a saved tiny tokenizer loads from its folder and is cached', () => {
  const dir = folder({ 'tokenizer.json': JSON.stringify(tokenizerJson), 'tokenizer_config.json': JSON.stringify(tokenizerConfig) });
  const a = loadTokenizerFromFolder(dir, nodeFiles);
  assert.equal(a.vocabSize, 259);
  assert.equal(loadTokenizerFromFolder(dir, nodeFiles), a, 'second load comes from the cache');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, pad_token: '<|im_start|>' }));
  const b = loadTokenizerFromFolder(dir, nodeFiles);
  assert.notEqual(b, a, 'a changed tokenizer_config.json is reloaded');
  assert.equal(b.padId, 257);
  forgetTokenizer(dir);
  assert.notEqual(loadTokenizerFromFolder(dir, nodeFiles), b);
});

test('chat_template.jinja and generation_config.json beside the config are used', () => {
  const dir = folder({
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': JSON.stringify(configWithoutTemplate),
    'chat_template.jinja': String(template),
    'generation_config.json': JSON.stringify({ eos_token_id: [258, 257] }),
  });
  const tok = loadTokenizerFromFolder(dir, nodeFiles);
  assert.equal(tok.hasChatTemplate, true);
  assert.ok(tok.stopIds.includes(257));
  assert.equal(tok.renderChat([{ role: 'user', content: 'x' }]), '<|im_start|>user\nx<|im_end|>\n');
});

test('missing or broken files fail with one sentence saying what to do', () => {
  const missing = join(tmpdir(), 'anneal-no-such-model-folder');
  assert.throws(() => loadTokenizerFromFolder(missing, nodeFiles), /does not exist; point "model" at a Hugging Face model folder or use "tiny"/);
  const empty = folder({});
  assert.throws(() => loadTokenizerFromFolder(empty, nodeFiles), /tokenizer\.json is missing; copy tokenizer\.json/);
  const bad = folder({ 'tokenizer.json': '{"model": ', 'tokenizer_config.json': '{}' });
  assert.throws(() => loadTokenizerFromFolder(bad, nodeFiles), /tokenizer\.json is not valid JSON .*download it again/);
  const notTok = folder({ 'tokenizer.json': '[1,2]' });
  assert.throws(() => loadTokenizerFromFolder(notTok, nodeFiles), /not a Hugging Face tokenizer/);
  const sub = join(folder({}), 'sub');
  mkdirSync(sub);
  writeFileSync(join(sub, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(join(sub, 'tokenizer_config.json'), '{oops');
  assert.throws(() => loadTokenizerFromFolder(sub, nodeFiles), /tokenizer_config\.json is not valid JSON/);
});
