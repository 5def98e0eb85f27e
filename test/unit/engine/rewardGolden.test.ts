// Reward modelling equals TRL: the score head on the last non-pad token of TRL's collated batch
// (test/fixtures/trl/reward.json, a LlamaForSequenceClassification built from the fixture policy)
// gives TRL's rewards, Bradley-Terry loss (plain, with a margin column, with centring), metrics and
// gradients for the decoder and the head.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { ownedVariable } from '../../../daemon/engine/model.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { sequenceRewards } from '../../../daemon/engine/scoreHead.ts';
import { pairRows } from '../../../daemon/engine/stages/pairStage.ts';
import { pairRewardLoss, rewardCoefficient } from '../../../daemon/engine/stages/reward.ts';
import { useBackend } from './helpers.ts';
import { assertClose, assertGradients, FIXTURES, loadFixtureModel, readGolden } from './trlFixtures.ts';

interface RewardPair {
  prompt_ids: number[];
  chosen_ids: number[];
  rejected_ids: number[];
  margin: number;
}

const golden = readGolden<RewardPair>('reward');

before(() => useBackend());

test(`reward model: ${golden.cases.map((c) => c.name).join(', ')} equal TRL ${golden.trl_version}`, () => {
  const model = loadFixtureModel('policy');
  const saved = readSafetensors(join(FIXTURES, 'reward', 'model.safetensors')).tensors;
  // The classifier's decoder is the policy's; check it, then take its head.
  assertClose(model.params.get('model.layers.1.mlp.down_proj.weight')!.dataSync(), saved.get('model.layers.1.mlp.down_proj.weight')!.data, 0, 'decoder weights');
  const s = saved.get('score.weight')!;
  const score = ownedVariable(tf.tensor2d(s.data, s.shape as [number, number]), true);
  const seq = (p: RewardPair, completion: number[]) => ({ ids: Int32Array.from([...p.prompt_ids, ...completion]), completionStart: p.prompt_ids.length });
  const names = new Map([...model.params, ['score.weight', score] as const].map(([n, v]) => [v.name, n]));
  for (const c of golden.cases) {
    const withMargin = c.name === 'margin';
    const pairs = golden.examples.map((p, line) => ({ line, chosen: seq(p, p.chosen_ids), rejected: seq(p, p.rejected_ids), ...(withMargin ? { margin: p.margin } : {}) }));
    const b = pairRows(pairs, 0);
    assert.deepEqual(Array.from({ length: b.batch }, (_, r) => Array.from(b.ids.subarray(r * b.length, (r + 1) * b.length))), golden.collated.input_ids);
    const rewards = sequenceRewards(model, undefined, score as tf.Tensor as tf.Tensor2D, b, 0);
    const expected = (c as unknown as { rewards: { chosen: number[]; rejected: number[] } }).rewards;
    assertClose(Array.from(rewards), [...expected.chosen, ...expected.rejected], 1e-5, `${c.name}: rewards`);
    const args = { ...defaultTrainingArguments('reward'), ...(c.config as Partial<TrainingArguments>) } as TrainingArguments;
    const out = new Map<string, number>();
    const { value, grads } = tf.variableGrads(() => pairRewardLoss(model, null, score as tf.Tensor as tf.Tensor2D, pairs, 0, rewardCoefficient(args), 1, out, false), [...model.params.values(), score]);
    assertClose([value.dataSync()[0]!], [c.loss], 1e-5, `${c.name}: loss`);
    value.dispose();
    for (const [name, v] of Object.entries((c as unknown as { metrics: Record<string, number> }).metrics)) {
      if (name === 'num_tokens') continue;
      assert.ok(out.has(name), `${c.name}: no metric ${name}`);
      assertClose([out.get(name)!], [v], 1e-5, `${c.name}: ${name}`);
    }
    const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
    assertGradients(byName, c.grads, 1e-4);
    for (const g of byName.values()) g.dispose();
  }
  score.dispose();
});
