import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isRecipePath, recipeFacts, recipeForDataset,
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
