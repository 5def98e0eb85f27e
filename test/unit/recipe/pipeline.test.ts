// Pipeline recipes (`stages:`): each stage checked as a recipe of its own, over the shared keys, with
// every diagnostic on the line it comes from (the item's key, or the shared key once); the pipeline's
// own problems (no stage, duplicate names, @references to nothing or to the wrong kind of stage); and
// the resolved stages, each continuing from the previous policy stage's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, codes, only, span } from './helpers.ts';

const PIPELINE = `model: tiny
lora: {r: 8, alpha: 16}
learning_rate: 1.0e-3
stages:
  - stage: sft
    data: {train: chat.jsonl}
    max_steps: 3
  - stage: reward
    data: {train: preference.jsonl}
  - stage: dpo
    data: {train: preference.jsonl}
    beta: 0.2
  - stage: ppo
    data: {train: prompts.jsonl}
    reward_model_path: "@reward"
`;

test('a clean pipeline resolves into its stages, each from the previous policy stage\'s output', () => {
  const r = check(PIPELINE);
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.recipe, undefined);
  const stages = r.pipeline!;
  assert.deepEqual(stages.map((s) => [s.name, s.recipe.stage, s.recipe.model]), [['sft', 'sft', 'tiny'], ['reward', 'reward', 'tiny'], ['dpo', 'dpo', '@sft'], ['ppo', 'ppo', '@dpo']]);
  assert.equal(stages[0]!.recipe.args.max_steps, 3);
  assert.equal(stages[2]!.recipe.args.beta, 0.2);
  assert.equal(stages[2]!.recipe.args.learning_rate, 1e-3, 'shared keys reach every stage');
  assert.equal(stages[3]!.recipe.args.reward_model_path, '@reward');
  assert.equal(stages[1]!.recipe.lora?.r, 8);
});

test('each stage is checked as a recipe: an item\'s bad key on the item, a shared bad key once at the top', () => {
  const text = PIPELINE.replace('    beta: 0.2\n', '    beta: 0.2\n    bta: 1\n').replace('learning_rate: 1.0e-3', 'learning_rate: -1');
  const r = check(text);
  const lines = text.split('\n');
  const unknown = only(r, 'recipe-unknown-key');
  assert.equal(span(unknown)[0], lines.indexOf('    bta: 1'));
  const lr = r.diagnostics.filter((d) => d.code === 'recipe-invalid-value');
  assert.equal(lr.length, 1, 'a shared key\'s problem is reported once, not per stage');
  assert.equal(span(lr[0]!)[0], lines.indexOf('learning_rate: -1'));
  // A stage whose data file is missing: the error is on its own data line.
  const missing = check(PIPELINE.replace('data: {train: prompts.jsonl}', 'data: {train: nope.jsonl}'));
  const d = only(missing, 'recipe-data-missing');
  assert.equal(span(d)[0], PIPELINE.split('\n').indexOf('    data: {train: prompts.jsonl}'));
});

test('the pipeline\'s own problems: references to no earlier stage or to the wrong kind, duplicate names, a top-level stage', () => {
  const wrongRef = check(PIPELINE.replace('"@reward"', '"@dpo"'));
  assert.match(only(wrongRef, 'recipe-pipeline-invalid').message, /`@dpo` is a dpo stage; a reward model comes from a reward stage/);
  const later = check(PIPELINE.replace('"@reward"', '"@judge"'));
  assert.match(only(later, 'recipe-pipeline-invalid').message, /`@judge` names no earlier stage \(earlier: @sft, @reward, @dpo\)/);
  const dup = check(PIPELINE.replace('  - stage: dpo\n', '  - stage: dpo\n    name: sft\n'));
  assert.match(only(dup, 'recipe-pipeline-invalid').message, /Another stage is already named `sft`/);
  assert.ok(codes(check(`stage: sft\n${PIPELINE}`)).includes('recipe-pipeline-invalid'));
  assert.match(only(check('model: tiny\nstages: []\n'), 'recipe-pipeline-invalid').message, /lists the pipeline's stages in order/);
});
