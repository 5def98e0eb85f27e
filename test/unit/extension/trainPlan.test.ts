import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isRecipePath, quickStartArgs, quickStartSamples, recipeFacts, recipeForDataset, samplePrompts,
} from '../../../extension/client/train/trainPlan.ts';

test('recipe facts: stage and data resolved from the recipe folder, YAML or JSON', () => {
  assert.deepEqual(recipeFacts('stage: sft\nmodel: tiny\ndata:\n  train: sft.jsonl\n  eval: ../e.jsonl\n', '/w/ex/a.anneal.yaml'), {
    stage: 'sft',
    train: '/w/ex/sft.jsonl',
    eval: '/w/e.jsonl',
  });
  assert.deepEqual(recipeFacts('{"stage":"dpo","data":{"train":"/abs/p.jsonl"}}', '/w/b.anneal.json'), { stage: 'dpo', train: '/abs/p.jsonl' });
  assert.deepEqual(recipeFacts('stage: [unclosed', '/w/c.anneal.yaml'), {});
  assert.ok(isRecipePath('/w/x.anneal.yml') && !isRecipePath('/w/x.yaml'));
});

test('the recipe beside a dataset is the one training that file for that stage', () => {
  const recipes = [
    { path: '/w/z.anneal.yaml', text: 'stage: sft\ndata:\n  train: sft.jsonl\n' },
    { path: '/w/dpo.anneal.yaml', text: 'stage: dpo\ndata:\n  train: sft.jsonl\n' },
    { path: '/w/a.anneal.yaml', text: 'stage: sft\ndata:\n  train: sft.jsonl\n' },
    { path: '/w/other.anneal.yaml', text: 'stage: sft\ndata:\n  train: other.jsonl\n' },
  ];
  assert.equal(recipeForDataset('/w/sft.jsonl', 'sft', recipes), '/w/a.anneal.yaml');
  assert.equal(recipeForDataset('/w/sft.jsonl', 'dpo', recipes), '/w/dpo.anneal.yaml');
  assert.equal(recipeForDataset('/w/none.jsonl', 'sft', recipes), undefined);
});

test('tiny gets a learning rate it can learn with; max steps caps any model', () => {
  const tiny = quickStartArgs('tiny', 0);
  assert.equal(tiny.learning_rate, 5e-3);
  assert.equal(tiny.max_steps, undefined);
  assert.deepEqual(quickStartArgs('/models/qwen', 0), {});
  assert.deepEqual(quickStartArgs('/models/qwen', 50), { max_steps: 50 });
  assert.equal(quickStartArgs('tiny', 40).logging_steps, 2);
  assert.equal(quickStartArgs('tiny', 400).logging_steps, 5);
  assert.equal(quickStartSamples(['p'], 400)?.every_steps, 25);
  assert.equal(quickStartSamples(['p'], 20)?.every_steps, 5);
  assert.equal(quickStartSamples([], 20), undefined);
});

test('sample prompts come from the first records of any prompt-bearing format', () => {
  const text = [
    '{"messages":[{"role":"system","content":"Be loud"},{"role":"user","content":"Shout remune"},{"role":"assistant","content":"REMUNE!"}]}',
    'not json',
    '',
    '{"prompt":"Capital of Canada?","chosen":"Ottawa.","rejected":"Toronto."}',
    '{"messages":[{"role":"user","content":"Shout remune"},{"role":"assistant","content":"REMUNE!"}]}',
  ].join('\n');
  assert.deepEqual(samplePrompts(text), ['Shout remune', 'Capital of Canada?']);
  assert.deepEqual(samplePrompts('{"instruction":"Add 2 and 3","output":"5"}\n{"text":"plain"}\n', 3), ['Add 2 and 3']);
  assert.deepEqual(samplePrompts(`{"prompt":"${'x'.repeat(300)}"}`), []);
});
