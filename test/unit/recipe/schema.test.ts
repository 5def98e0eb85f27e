// Syntax and schema: every error lands on the exact key or value, with a message saying what to write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { recipeSchema, RECIPE_CODES } from '../../../core/recipe/index.ts';
import { check, codes, only, span, sft } from './helpers.ts';

const root = new URL('../../../', import.meta.url);

test('schemas/recipe.schema.json equals the schema in core/recipe/schema.ts', () => {
  const committed = JSON.parse(readFileSync(new URL('schemas/recipe.schema.json', root), 'utf8'));
  assert.deepEqual(committed, JSON.parse(JSON.stringify(recipeSchema)), 'run: node --import tsx test/fixtures/recipe/emit-schema.ts');
});

test('docs/recipe-diagnostics.md lists every code with its severity', () => {
  const doc = readFileSync(new URL('docs/recipe-diagnostics.md', root), 'utf8');
  for (const [code, severity] of Object.entries(RECIPE_CODES)) {
    assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${severity} \\|`), code);
  }
});

test('a clean recipe has no diagnostics and resolves', () => {
  const r = check(sft());
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.recipe?.stage, 'sft');
});

test('YAML syntax errors keep their position; nothing else is reported', () => {
  const r = check('model: tiny\nstage: sft\ndata: {train: chat.jsonl\nlr: 1\n');
  assert.deepEqual(codes(r), ['recipe-yaml-syntax']);
  assert.match(r.diagnostics[0].message, /^YAML syntax error: .*; fix the text here\.$/);
  assert.equal(r.recipe, undefined);
  const quote = only(check('model: "tiny\n'), 'recipe-yaml-syntax');
  assert.equal(quote.range.start.line, 1);
});

test('a duplicate key points at the second copy', () => {
  const d = only(check(sft('seed: 1\nseed: 2\n')), 'recipe-duplicate-key');
  assert.deepEqual(span(d), [5, 0, 5, 4]);
});

test('empty and non-mapping recipes say what a recipe looks like', () => {
  assert.match(only(check(''), 'recipe-not-mapping').message, /recipe is empty; start with `model: tiny`/);
  assert.match(only(check('# only a comment\n'), 'recipe-not-mapping').message, /empty/);
  const list = only(check('- model: tiny\n'), 'recipe-not-mapping');
  assert.deepEqual(span(list), [0, 0, 0, 13]);
});

test('an unknown key is marked on the key, with the closest known key as a quick-fix suggestion', () => {
  const d = only(check(sft('learning_rat: 2.0e-5\n')), 'recipe-unknown-key');
  assert.deepEqual(span(d), [4, 0, 4, 12]);
  assert.equal(d.severity, 'error');
  assert.equal(d.message, 'Unknown key `learning_rat`; did you mean `learning_rate`?');
  assert.deepEqual(d.data, { suggestion: 'learning_rate' });
});

test('names from other tools map to TRL names', () => {
  assert.deepEqual(only(check(sft('lr: 2.0e-5\n')), 'recipe-unknown-key').data, { suggestion: 'learning_rate' });
  assert.deepEqual(only(check(sft('max_seq_length: 512\n')), 'recipe-unknown-key').data, { suggestion: 'max_length' });
  const nested = only(check(sft('lora_r: 8\n')), 'recipe-unknown-key');
  assert.match(nested.message, /write it as `r` under `lora`/);
});

test('unknown keys inside nested mappings point at the nested key', () => {
  const d = only(check(sft('lora:\n  r: 8\n  alpah: 16\n')), 'recipe-unknown-key');
  assert.deepEqual(span(d), [6, 2, 6, 7]);
  assert.match(d.message, /in `lora`; did you mean `alpha`\?/);
  const far = only(check(sft('lora:\n  banana: 1\n')), 'recipe-unknown-key');
  assert.match(far.message, /remove it \(known keys: r, alpha, dropout, target_modules\)/);
});

test('a wrong type is marked on the value and gives an example', () => {
  const d = only(check(sft('learning_rate: fast\n')), 'recipe-wrong-type');
  assert.deepEqual(span(d), [4, 15, 4, 19]);
  assert.equal(d.message, '`learning_rate` must be a number, e.g. 2e-5.');
  assert.equal(only(check(sft('packing: yes\n')), 'recipe-wrong-type').message, '`packing` must be true or false, e.g. false.');
  assert.match(only(check(sft('max_length: 10.5\n')), 'recipe-wrong-type').message, /must be a whole number, e.g. 1024/);
  assert.match(only(check(sft('lora: 8\n')), 'recipe-wrong-type').message, /`lora` must be a mapping or null, e.g. \{r: 16, alpha: 32\}/);
  assert.match(only(check('model: tiny\nstage: sft\ndata: chat.jsonl\n'), 'recipe-wrong-type').message, /`data` must be a mapping, e.g. \{train: data\/train.jsonl, eval: data\/eval.jsonl\}/);
});

test('a missing required key points at its parent key, or the document start at top level', () => {
  const top = only(check('model: tiny\ndata:\n  train: chat.jsonl\n'), 'recipe-missing-key');
  assert.deepEqual(span(top), [0, 0, 0, 11]);
  assert.match(top.message, /^Add `stage` \(Training stage\), e\.g\. stage: sft\.$/);
  const nested = only(check('model: tiny\nstage: sft\ndata:\n  eval: chat.jsonl\n'), 'recipe-missing-key');
  assert.deepEqual(span(nested), [2, 0, 2, 4]);
  assert.match(nested.message, /Add `train` under `data`/);
});

test('an enum value gets the closest allowed value as a suggestion', () => {
  const d = only(check('model: tiny\nstage: dpoo\ndata:\n  train: preference.jsonl\n'), 'recipe-invalid-value');
  assert.deepEqual(span(d), [1, 7, 1, 11]);
  assert.equal(d.message, '`stage` must be one of sft, cpt, dpo, kto, orpo, cpo, simpo, reward, grpo, ppo; did you mean `dpo`?');
  assert.deepEqual(d.data, { suggestion: 'dpo' });
});

test('hard limits: positive learning rate, rank at least 1, module list or all-linear, non-empty prompts', () => {
  assert.match(only(check(sft('learning_rate: 0\n')), 'recipe-invalid-value').message, /`learning_rate` must be greater than 0/);
  assert.match(only(check(sft('lora:\n  r: 0\n')), 'recipe-invalid-value').message, /`r` must be at least 1/);
  assert.match(only(check(sft('lora:\n  target_modules: q_proj\n')), 'recipe-invalid-value').message, /list of module names or "all-linear"/);
  assert.deepEqual(codes(check(sft('lora:\n  target_modules: [q_proj, v_proj]\n'))), []);
  assert.match(only(check(sft('samples:\n  prompts: []\n')), 'recipe-invalid-value').message, /needs at least one item/);
  const item = only(check(sft('samples:\n  prompts: ["hi", 3]\n')), 'recipe-wrong-type');
  assert.deepEqual(span(item), [5, 18, 5, 19]);
  assert.match(item.message, /item 2 of `prompts` must be a string or a list/);
});

test('JSON recipes are checked with exact positions too', () => {
  const text = '{\n  "model": "tiny",\n  "stage": "sft",\n  "data": {"train": "chat.jsonl"},\n  "learning_rate": "2e-5"\n}\n';
  const d = only(check(text), 'recipe-wrong-type');
  assert.deepEqual(span(d), [4, 19, 4, 25]);
});

test('errors hold back the resolved recipe; warnings do not', () => {
  assert.equal(check(sft('seed: x\n')).recipe, undefined);
  const warned = check(sft('per_device_train_batch_size: 1\n'));
  assert.deepEqual(codes(warned), ['recipe-effective-batch']);
  assert.ok(warned.recipe);
});
