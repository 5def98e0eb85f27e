// "Score with a model…" offers the completed runs whose output can score pairs (a reward model, or a
// LoRA policy of a preference or SFT stage), newest first with stage, id and model, and a folder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { canScoreWith, modelChoices } from '../../../extension/client/pairs/scoreChoices.ts';

const now = new Date('2026-11-29T19:30:00Z');
const lora = { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' } as RunInfo['lora'];
function run(over: Partial<RunInfo>): RunInfo {
  return {
    id: 'dpo-20261129-190810-9442',
    stage: 'dpo',
    status: 'completed',
    createdAt: '2026-11-29T19:08:10Z',
    endedAt: '2026-11-29T19:08:22Z',
    model: 'tiny',
    data: { train: '/w/preference.jsonl' },
    args: { beta: 0.1 } as RunInfo['args'],
    lora,
    step: 30,
    resumes: [],
    ...over,
  };
}

test('only completed runs with a score head or an adapter, of a scoring stage', () => {
  assert.equal(canScoreWith(run({})), true);
  assert.equal(canScoreWith(run({ stage: 'sft' })), true);
  assert.equal(canScoreWith(run({ stage: 'reward', lora: null })), true, 'a full reward model has its head');
  assert.equal(canScoreWith(run({ lora: null })), false, 'a fully fine-tuned policy has no base to compare with');
  assert.equal(canScoreWith(run({ status: 'running' })), false);
  assert.equal(canScoreWith(run({ status: 'stopped' })), false);
  assert.equal(canScoreWith(run({ stage: 'grpo' })), false);
  assert.equal(canScoreWith(run({ stage: 'cpt' })), false);
});

test('rows: stage and id, model, data and age, what it scores with; then a folder', () => {
  const rows = modelChoices([run({}), run({ id: 'sft-1', stage: 'sft', status: 'failed' }), run({ id: 'reward-1', stage: 'reward', data: { train: '/w/other.jsonl' }, model: '/m/SmolLM2-135M', lora: null })], '/w/preference.jsonl', now);
  assert.deepEqual(rows.map((r) => r.label), ['DPO · dpo-20261129-190810-9442', 'REWARD · reward-1', '$(folder) Choose a folder…']);
  assert.equal(rows[0].description, 'tiny · trained on this file · 21 min ago');
  assert.match(rows[0].detail!, /^implicit reward: beta × \(log-prob with its LoRA adapter − without\), beta 0\.1$/);
  assert.equal(rows[1].description, 'SmolLM2-135M · trained on other.jsonl · 21 min ago');
  assert.match(rows[1].detail!, /^reward model/);
  assert.equal(rows[2].target.kind, 'folder');
  assert.deepEqual(modelChoices([], '/w/p.jsonl', now).map((r) => r.target.kind), ['folder']);
});
