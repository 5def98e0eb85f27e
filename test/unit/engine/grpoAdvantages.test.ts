// GRPO's advantages at the edges TRL's fixtures do not reach: a group whose completions all scored the
// same, a row no reward function scored, a group with a single scored completion, and a reward of
// weight 0 (logged, not optimised). Pure numbers, no backend.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grpoAdvantages, type AdvantageSettings } from '../../../daemon/engine/stages/grpoAdvantages.ts';

const settings = (weights: number[], over: Partial<AdvantageSettings> = {}): AdvantageSettings => ({ numGenerations: 4, scaleRewards: 'group', aggregation: 'sum_then_normalize', weights, ...over });
const close = (a: ArrayLike<number>, b: number[]) => b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-6, `[${i}] ${a[i]} vs ${v}`));

test('a group whose completions all scored alike teaches nothing: advantages 0, counted in frac_reward_zero_std', () => {
  const r = grpoAdvantages([[1], [1], [1], [1], [0], [1], [0], [1]], ['ok'], settings([1]));
  close(r.advantages.subarray(0, 4), [0, 0, 0, 0]);
  assert.ok(r.advantages[5]! > 0 && r.advantages[4]! < 0);
  assert.equal(r.metrics.frac_reward_zero_std, 0.5);
  assert.equal(r.metrics.reward, 0.75);
});

test('a row no function scored (all null) gets advantage 0 and stays out of its group\'s mean and std', () => {
  const r = grpoAdvantages([[NaN], [2], [4], [6]], ['x'], settings([1]));
  assert.equal(r.advantages[0], 0);
  assert.ok(Number.isNaN(r.totals[0]!));
  // The others: mean 4, std 2 over the three scored rows.
  close(r.advantages.subarray(1), [-1, 0, 1].map((z) => (z * 2) / (2 + 1e-4)));
  assert.equal(r.metrics['rewards/x/mean'], 4);
});

test('a group with one scored completion has no std: every advantage 0, not counted as zero variance', () => {
  const r = grpoAdvantages([[NaN], [NaN], [3], [NaN]], ['x'], settings([1]));
  assert.deepEqual(Array.from(r.advantages), [0, 0, 0, 0]);
  assert.equal(r.metrics.frac_reward_zero_std, 0);
});

test('weight 0: the reward is logged under its name but does not move the advantages', () => {
  const rows = [[1, 9], [0, 3], [1, 0], [0, 7]];
  const weighted = grpoAdvantages(rows, ['right', 'logged'], settings([1, 0]));
  const alone = grpoAdvantages(rows.map(([a]) => [a!]), ['right'], settings([1]));
  close(weighted.advantages, Array.from(alone.advantages));
  assert.equal(weighted.metrics['rewards/logged/mean'], 4.75);
  close(weighted.totals, [1, 0, 1, 0]);
});
