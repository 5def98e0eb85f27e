// Semantic checks: files the recipe names, stage vs data, the guides' ranges, contradicting settings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { checkRecipe } from '../../../core/recipe/index.ts';
import { writeCachedModel } from '../../helpers/hubCache.ts';
import { check, codes, fixtureDir, only, recipePath, span, sft } from './helpers.ts';

const recipe = (stage: string, train: string, extra = '', model = 'tiny') => `model: ${model}\nstage: ${stage}\ndata:\n  train: ${train}\n${extra}`;

test('missing data files are errors on the path, relative to the recipe', () => {
  const d = only(check(recipe('sft', 'nope.jsonl')), 'recipe-data-missing');
  assert.deepEqual(span(d), [3, 9, 3, 19]);
  assert.ok(d.message.includes(`looked in ${fixtureDir}nope.jsonl`));
  const ev = only(check(recipe('sft', 'chat.jsonl', '  eval: gone.jsonl\n')), 'recipe-data-missing');
  assert.match(ev.message, /^Evaluation data `gone.jsonl` not found/);
  assert.deepEqual(span(ev), [4, 8, 4, 18]);
  assert.deepEqual(codes(check(recipe('sft', 'chat.jsonl', '  eval: chat.jsonl\n'))), []);
});

test('the stage must suit the data kind', () => {
  const d = only(check(recipe('dpo', 'chat.jsonl')), 'recipe-stage-data-mismatch');
  assert.equal(d.severity, 'error');
  assert.deepEqual(span(d), [3, 9, 3, 19]);
  assert.match(d.message, /Stage dpo needs preference data .* holds messages records \(2\); .* or change stage to sft\./);
  assert.match(only(check(recipe('grpo', 'preference.jsonl', 'rewards: [think_format]\n')), 'recipe-stage-data-mismatch').message, /or change stage to dpo/);
  assert.match(only(check(recipe('cpt', 'chat.jsonl')), 'recipe-stage-data-mismatch').message, /Stage cpt needs plain text data/);
  assert.equal(only(check(recipe('sft', 'preference.jsonl')), 'recipe-stage-data-mismatch').severity, 'error');
  for (const [stage, file, extra] of [
    ['dpo', 'preference.jsonl', ''],
    ['reward', 'preference.jsonl', ''],
    ['cpt', 'text.jsonl', ''],
    ['sft', 'text.jsonl', ''],
    ['grpo', 'prompts.jsonl', 'rewards: [think_format]\n'],
  ]) {
    assert.deepEqual(codes(check(recipe(stage, file, extra))), [], `${stage} on ${file}`);
  }
});

test('broken or empty data is a warning pointing at the file', () => {
  const d = only(check(recipe('sft', 'broken.jsonl')), 'recipe-data-invalid');
  assert.equal(d.severity, 'warning');
  assert.match(d.message, /`broken.jsonl` has 1 error \(first on line 2\); open it/);
  assert.match(only(check(recipe('sft', 'empty.jsonl')), 'recipe-data-invalid').message, /holds no records/);
});

test('GRPO needs rewards; reward columns and files must exist', () => {
  const none = only(check(recipe('grpo', 'prompts.jsonl')), 'recipe-rewards-missing');
  assert.deepEqual(span(none), [1, 7, 1, 11]);
  const col = only(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: exact_match\n    column: answer\n')), 'recipe-reward-column-missing');
  assert.deepEqual(span(col), [6, 12, 6, 18]);
  assert.match(col.message, /reads the column `answer`, which 1 record of `prompts.jsonl` lacks/);
  const file = only(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: mine\n    file: rewards/missing.ts\n')), 'recipe-reward-file-missing');
  assert.deepEqual(span(file), [6, 10, 6, 28]);
  assert.deepEqual(codes(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: mine\n    file: rewards/format.ts\n'))), []);
});

test('reward names must be built-ins unless a file is given; a close name is suggested', () => {
  const typo = only(check(recipe('grpo', 'prompts.jsonl', 'rewards: [exact_mach]\n')), 'recipe-reward-unknown');
  assert.equal(typo.severity, 'error');
  assert.deepEqual(span(typo), [4, 10, 4, 20]);
  assert.deepEqual(typo.data, { suggestion: 'exact_match' });
  assert.match(typo.message, /^`exact_mach` is not a built-in reward; did you mean `exact_match`\? For your own function, add `file:`/);
  const named = only(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: brevity\n    weight: 0.5\n')), 'recipe-reward-unknown');
  assert.deepEqual(span(named), [5, 10, 5, 17]);
  assert.match(named.message, /\(answer_match, think_format, regex, json_valid, json_schema, length\)\. For your own function, add `file:`/);
  assert.equal(named.data, undefined);
  for (const name of ['think_format', 'format', 'json_valid', 'length']) {
    assert.deepEqual(codes(check(recipe('grpo', 'prompts.jsonl', `rewards: [${name}]\n`))), [], name);
  }
});

test('built-in rewards add the columns they read to the column check', () => {
  // answer_match reads `answer` when no column is written: the diagnostic marks the name.
  const implicit = only(check(recipe('grpo', 'prompts.jsonl', 'rewards: [exact_match]\n')), 'recipe-reward-column-missing');
  assert.deepEqual(span(implicit), [4, 10, 4, 21]);
  assert.match(implicit.message, /^Reward `exact_match` reads the column `answer` \(its default\), which 1 record of `prompts.jsonl` lacks; add the column or set `column`\.$/);
  const named = only(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: answer_match\n    column: solution\n')), 'recipe-reward-column-missing');
  assert.deepEqual(span(named), [6, 12, 6, 20]);
  assert.match(named.message, /reads the column `solution`, which 3 records of `prompts.jsonl` lack; add the column or change `column`/);
  // A column on a reward that reads none is pointed out, not required.
  const unused = only(check(recipe('grpo', 'prompts.jsonl', 'rewards:\n  - name: think_format\n    column: answer\n')), 'recipe-key-unused');
  assert.deepEqual(span(unused), [6, 4, 6, 10]);
  assert.match(unused.message, /think_format reads no dataset column; remove `column`/);
  // Data where every record has the answer passes.
  const dir = mkdtempSync(join(tmpdir(), 'anneal-rewards-'));
  try {
    writeFileSync(join(dir, 'math.jsonl'), '{"prompt":"2+2=","answer":"4"}\n{"prompt":"3+3=","answer":6}\n');
    const ok = checkRecipe(recipe('grpo', 'math.jsonl', 'rewards:\n  - exact_match\n  - name: format\n    weight: 0.2\n'), join(dir, 'r.anneal.yaml'), nodeFiles);
    assert.deepEqual(ok.diagnostics, []);
    assert.deepEqual(ok.recipe?.rewards, [{ name: 'exact_match' }, { name: 'format', weight: 0.2 }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('built-in reward options are checked on the option: unknown keys, types, values, files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-reward-options-'));
  writeFileSync(join(dir, 'prompts.jsonl'), '{"prompt":"name?","answer":"4"}\n');
  mkdirSync(join(dir, 'schemas'));
  writeFileSync(join(dir, 'schemas', 'person.json'), '{"type": "object", "required": ["name"]}');
  writeFileSync(join(dir, 'schemas', 'broken.json'), '{"type": ');
  // Only this check's diagnostics are looked at here (the schema leaves `options` to it).
  const run = (rewards: string) =>
    checkRecipe(recipe('grpo', 'prompts.jsonl', `rewards:\n${rewards}`), join(dir, 'r.anneal.yaml'), nodeFiles).diagnostics.filter((d) => !/`options`/.test(d.message) || d.code !== 'recipe-unknown-key');
  try {
    const typo = run('  - name: exact_match\n    options:\n      tolerence: 0.01\n');
    assert.equal(typo.length, 1);
    assert.equal(typo[0].code, 'recipe-unknown-key');
    assert.deepEqual(span(typo[0]), [7, 6, 7, 15]);
    assert.deepEqual(typo[0].data, { suggestion: 'tolerance' });
    assert.equal(typo[0].message, 'answer_match has no option `tolerence`; did you mean `tolerance`?');
    const wrongType = run('  - name: exact_match\n    options:\n      tolerance: small\n');
    assert.deepEqual([wrongType[0].code, span(wrongType[0])], ['recipe-wrong-type', [7, 17, 7, 22]]);
    assert.match(wrongType[0].message, /`tolerance` must be a number \(default 0.000001\); got "small"/);
    const badEnum = only({ diagnostics: run('  - name: length\n    options: {unit: letters, target: 100}\n') }, 'recipe-invalid-value');
    assert.match(badEnum.message, /`unit` must be one of chars, words, tokens; got "letters"/);
    assert.deepEqual(span(badEnum), [6, 20, 6, 27]);
    const both = only({ diagnostics: run('  - name: length\n    options: {target: 100, max: 200}\n') }, 'recipe-invalid-value');
    assert.match(both.message, /length takes `target` .* or `max` .*, not both/);
    const noPattern = only({ diagnostics: run('  - regex\n') }, 'recipe-invalid-value');
    assert.deepEqual(span(noPattern), [5, 4, 5, 9]);
    assert.match(noPattern.message, /regex needs a pattern: set `pattern` in its options, or `column` to a column of patterns/);
    const badPattern = only({ diagnostics: run('  - name: regex\n    options: {pattern: "a("}\n') }, 'recipe-invalid-value');
    assert.match(badPattern.message, /pattern `a\(` is not a valid regular expression/);
    assert.deepEqual(run('  - name: regex\n    options: {pattern: "^\\\\d+$", flags: i}\n'), []);
    const notMapping = only({ diagnostics: run('  - name: regex\n    options: strict\n') }, 'recipe-wrong-type');
    assert.match(notMapping.message, /`options` of reward regex must be a mapping/);
    // json_schema: an inline schema, or a file relative to the recipe that exists, parses and compiles.
    assert.deepEqual(run('  - name: json_schema\n    options:\n      schema: {type: object}\n'), []);
    assert.deepEqual(run('  - name: json_schema\n    options:\n      schema_file: schemas/person.json\n'), []);
    const gone = only({ diagnostics: run('  - name: json_schema\n    options:\n      schema_file: schemas/gone.json\n') }, 'recipe-invalid-value');
    assert.deepEqual(span(gone), [7, 19, 7, 36]);
    assert.match(gone.message, /JSON Schema file `schemas\/gone.json` not found \(looked in .*schemas\/gone.json\); fix the path/);
    assert.match(only({ diagnostics: run('  - name: json_schema\n    options: {schema_file: schemas/broken.json}\n') }, 'recipe-invalid-value').message, /is not JSON/);
    assert.match(only({ diagnostics: run('  - name: json_schema\n    options: {schema: {type: objekt}}\n') }, 'recipe-invalid-value').message, /the JSON Schema is invalid/);
    assert.match(only({ diagnostics: run('  - json_schema\n') }, 'recipe-invalid-value').message, /json_schema needs a schema/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('model folders must exist and hold config, weights and tokenizer', () => {
  assert.deepEqual(codes(check(recipe('sft', 'chat.jsonl', 'learning_rate: 2.0e-5\nmax_length: 512\n', 'model'))), []);
  const missing = only(check(recipe('sft', 'chat.jsonl', '', 'models/none/x')), 'recipe-model-missing');
  assert.deepEqual(span(missing), [0, 7, 0, 20]);
  assert.match(missing.message, /Model folder `models\/none\/x` not found/);
  assert.match(only(check(recipe('sft', 'chat.jsonl', '', 'chat.jsonl')), 'recipe-model-missing').message, /is a file; point `model` at the model's folder/);
  const incomplete = only(check(recipe('sft', 'chat.jsonl', '', 'model-incomplete')), 'recipe-model-incomplete');
  assert.match(incomplete.message, /lacks \*\.safetensors weights, tokenizer\.json;/);
});

test('a .gguf file is a model; an Ollama name is looked up in the Ollama store', (t) => {
  const store = mkdtempSync(join(tmpdir(), 'anneal-ollama-recipe-'));
  t.after(() => rmSync(store, { recursive: true, force: true }));
  const digest = 'b'.repeat(64);
  mkdirSync(join(store, 'manifests', 'registry.ollama.ai', 'library', 'smollm2'), { recursive: true });
  writeFileSync(join(store, 'manifests', 'registry.ollama.ai', 'library', 'smollm2', '135m'), JSON.stringify({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` }] }));
  mkdirSync(join(store, 'blobs'));
  writeFileSync(join(store, 'blobs', `sha256-${digest}`), 'GGUF');
  const files = { ...nodeFiles, ollamaStore: () => store };
  const modelCheck = (model: string) => checkRecipe(recipe('sft', 'chat.jsonl', 'max_length: 512\n', model), recipePath, files);
  const gguf = join(store, 'blobs', `sha256-${digest}`) + '.gguf';
  writeFileSync(gguf, 'GGUF');
  assert.deepEqual(codes(modelCheck(gguf)), []);
  assert.match(only(modelCheck(join(store, 'none.gguf')), 'recipe-model-missing').message, /GGUF file `.*none\.gguf` not found/);
  assert.deepEqual(codes(modelCheck('smollm2:135m')), []);
  assert.deepEqual(codes(modelCheck('ollama:library/smollm2:135m')), []);
  assert.match(only(modelCheck('smollm2:360m'), 'recipe-model-missing').message, /`smollm2:360m` is not in the Ollama store .*; run `ollama pull smollm2:360m`/);
});

test('a Hub id is looked up in the Hugging Face cache: cached (with its context), partly cached, or to be downloaded', (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'anneal-hub-recipe-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const files = { ...nodeFiles, hubCache: () => cache };
  const hubCheck = (model: string, extra = '') => checkRecipe(recipe('sft', 'chat.jsonl', extra, model), recipePath, files);
  const commit = 'a'.repeat(40);
  const folder = (name: string) => readFileSync(join(fixtureDir, 'model', name));
  writeCachedModel(cache, 'org/cached', commit, new Map(['config.json', 'tokenizer.json', 'model.safetensors'].map((f) => [f, folder(f)])), 'main');

  const cached = hubCheck('org/cached', 'max_length: 4096\n');
  assert.deepEqual(codes(cached).sort(), ['recipe-max-length-context', 'recipe-model-hub-cached']);
  const info = only(cached, 'recipe-model-hub-cached');
  assert.equal(info.severity, 'info');
  assert.deepEqual(span(info), [0, 7, 0, 17]);
  assert.match(info.message, new RegExp(`commit aaaaaaaa, ${join(cache, 'models--org--cached', 'snapshots', commit)}`));
  assert.equal(hubCheck('org/cached', 'max_length: 512\n').recipe?.model, 'org/cached', 'the resolved recipe keeps the id');
  assert.equal(only(hubCheck(`org/cached@${commit}`, 'max_length: 512\n'), 'recipe-model-hub-cached').severity, 'info');

  const other = only(hubCheck('org/cached@v2'), 'recipe-model-hub-download');
  assert.match(other.message, /`org\/cached@v2` is not in the Hugging Face cache/);
  const absent = only(hubCheck('Qwen/Qwen3-0.6B'), 'recipe-model-hub-download');
  assert.equal(absent.severity, 'info');
  assert.match(absent.message, new RegExp(`not in the Hugging Face cache \\(${cache}\\); a run downloads`));
  assert.equal(hubCheck('Qwen/Qwen3-0.6B').recipe?.model, 'Qwen/Qwen3-0.6B');

  writeCachedModel(cache, 'org/partial', commit, new Map([['config.json', folder('config.json')]]), 'main');
  assert.match(only(hubCheck('org/partial'), 'recipe-model-hub-download').message, /snapshot of `org\/partial` lacks tokenizer\.json, model\.safetensors; a run downloads the missing files/);
  // An existing folder of that name still means the folder; `rewards/x` beside an existing rewards/ hints at a typo.
  assert.match(only(hubCheck('rewards/x'), 'recipe-model-hub-download').message, /there is no folder .*rewards\/x, if a folder was meant/);
});

test('max_length above the model context: on the value when set, on the model when defaulted', () => {
  const set = only(check(recipe('sft', 'chat.jsonl', 'max_length: 4096\n', 'model')), 'recipe-max-length-context');
  assert.deepEqual(span(set), [4, 12, 4, 16]);
  assert.match(set.message, /above the model's context of 512 tokens; set `max_length: 512`/);
  const defaulted = only(check(recipe('sft', 'chat.jsonl', '', 'model')), 'recipe-max-length-context');
  assert.deepEqual(span(defaulted), [0, 7, 0, 12]);
  assert.match(defaulted.message, /1024 \(TRL's default\)/);
});

test('learning-rate ranges per stage, LoRA above full fine-tuning, not applied to tiny', () => {
  const m = 'max_length: 512\n';
  const lr = (stage: string, file: string, value: string, extra = '') => check(recipe(stage, file, `${m}learning_rate: ${value}\n${extra}`, 'model'));
  const high = only(lr('sft', 'chat.jsonl', '3.0e-3'), 'recipe-lr-range');
  assert.deepEqual(span(high), [5, 15, 5, 21]);
  assert.match(high.message, /above the usual SFT range for full fine-tuning \(5e-6 to 1e-4\); training may diverge — try 1e-4/);
  assert.deepEqual(codes(lr('sft', 'chat.jsonl', '2.0e-4', 'lora:\n  r: 16\n  alpha: 32\n')), [], 'LoRA takes a higher rate');
  assert.match(only(lr('sft', 'chat.jsonl', '2.0e-5', 'lora:\n  r: 16\n  alpha: 32\n'), 'recipe-lr-range').message, /below the usual SFT range with LoRA/);
  assert.deepEqual(codes(lr('dpo', 'preference.jsonl', '5.0e-7')), ['recipe-lr-range']);
  assert.deepEqual(codes(lr('dpo', 'preference.jsonl', '5.0e-6')), []);
  assert.deepEqual(codes(lr('grpo', 'prompts.jsonl', '1.0e-4', 'rewards: [think_format]\n')), ['recipe-lr-range']);
  assert.deepEqual(codes(check(recipe('sft', 'chat.jsonl', 'learning_rate: 3.0e-3\n'))), [], 'tiny trains from scratch');
});

test('DPO beta and epochs, GRPO group size and temperature', () => {
  const beta = only(check(recipe('dpo', 'preference.jsonl', 'beta: 0.01\n')), 'recipe-beta-range');
  assert.deepEqual(span(beta), [4, 6, 4, 10]);
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'beta: 0.3\nnum_train_epochs: 2\n'))), []);
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'num_train_epochs: 5\n'))), ['recipe-epochs-range']);
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'num_train_epochs: 5\nmax_steps: 100\n'))), [], 'max_steps decides the length');
  const g = (extra: string) => codes(check(recipe('grpo', 'prompts.jsonl', `rewards: [think_format]\n${extra}`)));
  assert.deepEqual(g('num_generations: 2\nper_device_train_batch_size: 8\n'), ['recipe-generations-range']);
  assert.deepEqual(g('num_generations: 32\nper_device_train_batch_size: 32\n'), ['recipe-generations-range']);
  assert.deepEqual(g('temperature: 0.3\n'), ['recipe-temperature-range']);
  assert.deepEqual(g('temperature: 0.9\nnum_generations: 4\n'), []);
  const batch = only(check(recipe('grpo', 'prompts.jsonl', 'rewards: [think_format]\nnum_generations: 6\n')), 'recipe-generations-batch');
  assert.match(batch.message, /\(8\) is not a multiple of num_generations \(6\)/);
});

test('LoRA alpha usually r or 2r; effective batch of 1', () => {
  assert.deepEqual(codes(check(sft('lora:\n  r: 8\n  alpha: 8\n'))), []);
  assert.deepEqual(codes(check(sft('lora:\n  r: 8\n  alpha: 16\n'))), []);
  const odd = only(check(sft('lora:\n  r: 8\n  alpha: 64\n')), 'recipe-lora-alpha');
  assert.equal(odd.severity, 'info');
  assert.deepEqual(span(odd), [6, 9, 6, 11]);
  assert.match(only(check(sft('lora:\n  r: 8\n')), 'recipe-lora-alpha').message, /TRL's default alpha 32 gives a scale of 4/);
  const one = only(check(sft('per_device_train_batch_size: 1\ngradient_accumulation_steps: 1\n')), 'recipe-effective-batch');
  assert.deepEqual(span(one), [4, 29, 4, 30]);
  assert.deepEqual(codes(check(sft('per_device_train_batch_size: 1\ngradient_accumulation_steps: 8\n'))), []);
});

test('keys the stage ignores, loss types of another stage, eval_steps without eval, double warmup', () => {
  const unused = only(check(sft('beta: 0.1\n')), 'recipe-key-unused');
  assert.deepEqual(span(unused), [4, 0, 4, 4]);
  assert.match(unused.message, /`beta` is only used by dpo, kto, orpo, cpo, simpo and grpo; stage sft ignores it/);
  assert.deepEqual(codes(check(sft('num_generations: 8\n'))), ['recipe-key-unused']);
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'packing: true\n'))), ['recipe-key-unused']);
  const loss = only(check(recipe('dpo', 'preference.jsonl', 'loss_type: dapo\n')), 'recipe-invalid-value');
  assert.match(loss.message, /loss_type `dapo` is not a dpo loss; use one of sigmoid, hinge, ipo, exo_pair/);
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'loss_type: ipo\n'))), []);
  // MPO: several DPO losses with one weight each; other stages take one loss.
  assert.deepEqual(codes(check(recipe('dpo', 'preference.jsonl', 'loss_type: [sigmoid, bco_pair, sft]\nloss_weights: [0.8, 0.2, 1.0]\n'))), []);
  assert.match(only(check(recipe('dpo', 'preference.jsonl', 'loss_type: [sigmoid, sft]\nloss_weights: [1]\n')), 'recipe-invalid-value').message, /loss_weights has 1 value\(s\) for 2 loss type\(s\)/);
  assert.match(only(check(recipe('dpo', 'preference.jsonl', 'loss_type: [sigmoid, nll]\n')), 'recipe-invalid-value').message, /loss_type `nll` is not a dpo loss/);
  assert.match(only(check(recipe('kto', 'preference.jsonl', 'loss_type: [kto, apo_zero_unpaired]\n')), 'recipe-invalid-value').message, /Only DPO combines several loss types/);
  assert.match(only(check(sft('loss_type: sigmoid\n')), 'recipe-invalid-value').message, /loss_type `sigmoid` is not a sft loss; use one of nll, dft/);
  assert.deepEqual(codes(check(sft('loss_type: dft\n'))), []);
  assert.deepEqual(codes(check(recipe('reward', 'preference.jsonl', 'loss_type: sigmoid\n'))), ['recipe-key-unused']);
  assert.deepEqual(codes(check(sft('eval_steps: 50\n'))), ['recipe-eval-steps-without-eval']);
  assert.deepEqual(codes(check(sft('eval_generations: 4\n'))), ['recipe-eval-steps-without-eval']);
  assert.deepEqual(codes(check(sft('eval_generations: 0\n'))), []);
  assert.deepEqual(codes(check(recipe('sft', 'chat.jsonl', '  eval: chat.jsonl\neval_steps: 50\n'))), []);
  assert.deepEqual(codes(check(sft('warmup_steps: 10\nwarmup_ratio: 0.1\n'))), ['recipe-warmup-both']);
});
