// Resolution: TRL's defaults per stage, absolute paths, overrides, and the example recipes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { checkRecipe, defaultTrainingArguments, resolveRecipe, TRAINING_ARGUMENT_KEYS } from '../../../core/recipe/index.ts';
import { check, fixtureDir, sft } from './helpers.ts';

test('TRL defaults per stage (TRL 1.16 configs)', () => {
  for (const stage of ['sft', 'dpo', 'reward', 'grpo', 'cpt'] as const) {
    const args = defaultTrainingArguments(stage) as unknown as Record<string, unknown>;
    for (const key of ['learning_rate', 'per_device_train_batch_size', 'gradient_accumulation_steps', 'num_train_epochs', 'max_steps', 'max_length', 'logging_steps', 'seed']) {
      assert.equal(typeof args[key], 'number', `${stage}.${key}`);
    }
  }
  assert.equal(defaultTrainingArguments('sft').learning_rate, 2e-5);
  assert.equal(defaultTrainingArguments('dpo').learning_rate, 1e-6);
  assert.equal(defaultTrainingArguments('dpo').beta, 0.1);
  assert.equal(defaultTrainingArguments('dpo').loss_type, 'sigmoid');
  assert.equal(defaultTrainingArguments('reward').learning_rate, 1e-4);
  const grpo = defaultTrainingArguments('grpo');
  assert.deepEqual([grpo.learning_rate, grpo.num_generations, grpo.temperature, grpo.epsilon, grpo.beta, grpo.loss_type], [1e-6, 8, 1, 0.2, 0, 'dapo']);
  assert.equal(defaultTrainingArguments('sft').beta, undefined, 'SFT carries no preference keys');
  assert.equal(defaultTrainingArguments('sft').assistant_only_loss, true, "Anneal's departure from TRL");
  assert.equal(defaultTrainingArguments('sft').gradient_checkpointing, false, 'TRL: true; here only when memory asks for it');
});

test('resolved recipes have every argument, absolute paths and filled LoRA/samples', () => {
  const r = check(sft('learning_rate: 1.0e-3\nlogging_steps: 7\nlora:\n  r: 8\n  alpha: 16\nsamples:\n  prompts: [hi]\noutput_dir: out/x\n'));
  assert.ok(r.recipe);
  const { recipe } = r;
  assert.equal(recipe.model, 'tiny');
  assert.equal(recipe.data.train, `${fixtureDir}chat.jsonl`);
  assert.equal(recipe.data.eval, undefined);
  assert.equal(recipe.output_dir, `${fixtureDir}out/x`);
  for (const key of ['learning_rate', 'per_device_train_batch_size', 'per_device_eval_batch_size', 'gradient_accumulation_steps', 'num_train_epochs', 'max_steps', 'warmup_steps', 'warmup_ratio', 'lr_scheduler_type', 'weight_decay', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'max_grad_norm', 'max_length', 'logging_steps', 'eval_steps', 'save_steps', 'seed', 'packing', 'completion_only_loss', 'assistant_only_loss', 'gradient_checkpointing']) {
    assert.notEqual((recipe.args as unknown as Record<string, unknown>)[key], undefined, key);
    assert.ok(TRAINING_ARGUMENT_KEYS.includes(key), key);
  }
  assert.equal(recipe.args.learning_rate, 1e-3);
  assert.equal(recipe.args.eval_steps, 7, 'eval_steps follows logging_steps like TRL');
  assert.deepEqual(recipe.lora, { r: 8, alpha: 16, dropout: 0.05, target_modules: 'all-linear' });
  assert.deepEqual(recipe.samples, { prompts: ['hi'], every_steps: 50, max_new_tokens: 64, temperature: 0.7, top_p: 0.95 });
  assert.equal(check(sft()).recipe?.lora, null, 'no lora key: full fine-tuning');
  assert.equal(check(sft('lora: null\n')).recipe?.lora, null);
});

test('GRPO rewards resolve their module paths', () => {
  const r = check(`model: tiny\nstage: grpo\ndata:\n  train: prompts.jsonl\nrewards:\n  - name: mine\n    file: rewards/format.ts\n  - len\n`);
  assert.deepEqual(r.recipe?.rewards, [{ name: 'mine', file: `${fixtureDir}rewards/format.ts` }, { name: 'len' }]);
});

test('overrides replace the model and data before the checks run', () => {
  const text = 'model: tiny\nstage: sft\ndata:\n  train: missing.jsonl\n';
  assert.equal(checkRecipe(text, `${fixtureDir}x.anneal.yaml`, nodeFiles).recipe, undefined);
  const r = resolveRecipe(text, `${fixtureDir}x.anneal.yaml`, nodeFiles, { data: { train: `${fixtureDir}chat.jsonl` } });
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.recipe?.data.train, `${fixtureDir}chat.jsonl`);
  const wrong = resolveRecipe(text, `${fixtureDir}x.anneal.yaml`, nodeFiles, { data: { train: `${fixtureDir}preference.jsonl` } });
  assert.deepEqual(wrong.diagnostics.map((d) => d.code), ['recipe-stage-data-mismatch']);
});

test('every example recipe validates with no diagnostics at all (a Hub model not yet in this machine\'s cache aside)', () => {
  const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
  const recipes = readdirSync(dir).filter((f) => /\.anneal\.(ya?ml|json)$/.test(f));
  for (const name of ['dpo', 'reward', 'grpo', 'cpt']) assert.ok(recipes.includes(`${name}.anneal.yaml`), name);
  for (const file of recipes) {
    const r = checkRecipe(readFileSync(dir + file, 'utf8'), dir + file, nodeFiles);
    // Whether the Hub model is cached is this machine's state, not the recipe's: that note is all it may say.
    assert.deepEqual(r.diagnostics.filter((d) => d.code !== 'recipe-model-hub-download'), [], file);
    // A pipeline resolves to its stages, a single recipe to itself.
    assert.ok(r.recipe ?? r.pipeline, file);
  }
});
