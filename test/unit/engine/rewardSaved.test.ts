// A reward model saved by Anneal loads in transformers and PEFT and scores as it does here:
// test/fixtures/trl/reward_load.py loaded anneal-reward-lora/ (PEFT SEQ_CLS adapter + score head) and
// anneal-reward-full/ (LlamaForSequenceClassification), both written by writeWeights, and recorded
// their scores; the engine reads the same folders back and must give the same scores. Writing them
// again from what was read must give the same bytes, so the committed folders stay what Anneal writes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { writeWeights } from '../../../daemon/engine/checkpoint.ts';
import { createModel, initialWeights, ownedVariable } from '../../../daemon/engine/model.ts';
import { readModelFolder } from '../../../daemon/engine/modelSource.ts';
import { sequenceBatch } from '../../../daemon/engine/logprobs.ts';
import { loadPeftAdapter, readPeftAdapter } from '../../../daemon/engine/peftAdapter.ts';
import { sequenceRewards } from '../../../daemon/engine/scoreHead.ts';
import { useBackend } from './helpers.ts';
import { assertClose, FIXTURES, loadFixtureModel } from './trlFixtures.ts';

const recorded = JSON.parse(readFileSync(join(FIXTURES, 'anneal_reward_scores.json'), 'utf8')) as { sequences: number[][]; lora: number[]; full: number[]; transformers_version: string; peft_version: string };
const batch = sequenceBatch(recorded.sequences.map((s) => ({ ids: Int32Array.from(s), completionStart: 0 })), 0);

before(() => useBackend());

test(`the saved LoRA reward model scores as PEFT ${recorded.peft_version} scores it, and is written back byte for byte`, () => {
  const model = loadFixtureModel('policy', false);
  const dir = join(FIXTURES, 'anneal-reward-lora');
  const folder = readPeftAdapter(dir);
  assert.equal(folder.taskType, 'SEQ_CLS');
  const { lora, head } = loadPeftAdapter(model, folder, 0, dir);
  assert.ok(head?.has('score.weight'), 'the score head is read from the adapter');
  const scores = sequenceRewards(model, lora, head!.get('score.weight')! as tf.Tensor as tf.Tensor2D, batch, 0);
  assertClose(Array.from(scores), recorded.lora, 1e-5, 'LoRA reward model scores');
  const again = mkdtempSync(join(tmpdir(), 'anneal-rm-'));
  writeWeights(again, model, lora, 'policy', head);
  for (const f of ['adapter_model.safetensors', 'adapter_config.json']) assert.ok(readFileSync(join(again, f)).equals(readFileSync(join(dir, f))), `${f} differs from what Anneal wrote before`);
});

test(`the saved full reward model loads as LlamaForSequenceClassification and scores as transformers ${recorded.transformers_version} scores it`, () => {
  const dir = join(FIXTURES, 'anneal-reward-full');
  const { config, weights, head } = readModelFolder(dir);
  assert.ok(head?.has('score.weight'));
  const model = createModel(config, weights, false);
  const s = head!.get('score.weight')!;
  const score = ownedVariable(tf.tensor2d(s.data, s.shape as [number, number]), false);
  assertClose(Array.from(sequenceRewards(model, undefined, score as tf.Tensor as tf.Tensor2D, batch, 0)), recorded.full, 1e-5, 'full reward model scores');
  const again = mkdtempSync(join(tmpdir(), 'anneal-rm-'));
  // The decoder was read as a tied model (a classifier has no LM head); write it back from the policy's config.
  const policy = loadFixtureModel('policy', false);
  writeWeights(again, policy, null, 'policy', new Map([['score.weight', score]]));
  assert.ok(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors differs from what Anneal wrote before');
  assert.equal(JSON.parse(readFileSync(join(again, 'config.json'), 'utf8')).architectures[0], 'LlamaForSequenceClassification');
});

test('an adapter made for another base model is refused with the module and shapes that differ', () => {
  const config = { ...loadFixtureModel('policy', false).config, intermediate_size: 48 };
  const other = createModel(config, initialWeights(config, 1), false);
  const dir = join(FIXTURES, 'anneal-reward-lora');
  assert.throws(() => loadPeftAdapter(other, readPeftAdapter(dir), 0, dir), /was made for another base model: its model\.layers\.0\.mlp\.gate_proj\.lora_B\.weight is \[32,4\], this model's is \[48,4\]/);
});
