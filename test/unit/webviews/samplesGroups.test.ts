// The samples view's groups (GRPO/PPO): a step's scored records gathered into their prompts' groups,
// zero reward variance as the engine decides it, sorting by advantage, the filter, stepping through
// steps; and the store keeping `scored` beside plain samples.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RunSampleNotification } from '../../../core/protocol/daemon.ts';
import type { SampleRecord, ScoredCompletion } from '../../../core/protocol/runs.ts';
import { groupsSummary, hasZeroVariance, orderCompletions, rewardNames, stepGroups, stepPosition, validScored, visibleGroups, type StepSample } from '../../../webviews/samples/groups.ts';
import { SampleStore, applySampleNotification } from '../../../webviews/samples/sampleStore.ts';

function scored(group: number, reward: number | null, advantage: number, over: Partial<ScoredCompletion> = {}): ScoredCompletion {
  return { group, rewards: { exact_match: reward }, reward, advantage, length: 5, truncated: false, ...over };
}

/** A step as the engine writes it: 2 prompts x 4 completions, group 0 with a signal, group 1 all wrong. */
function grpoStep(step: number): SampleRecord[] {
  const g0 = [[1, 1.5], [0, -0.5], [0, -0.5], [0, -0.5]] as const;
  return [
    ...g0.map(([r, a], i) => ({ step, prompt: 'What is 2+2?', completion: `a${i}`, scored: scored(0, r, a) })),
    ...[0, 1, 2, 3].map((i) => ({ step, prompt: 'What is 12 × 13?', completion: `b${i}`, scored: scored(1, 0, 0) })),
  ];
}

describe('zero reward variance', () => {
  test('all totals equal, nulls ignored, within the engine\'s 1e-8', () => {
    assert.equal(hasZeroVariance([0, 0, 0, 0]), true);
    assert.equal(hasZeroVariance([1, 1, null, 1]), true, 'a null does not count as a different value');
    assert.equal(hasZeroVariance([0.3, 0.1 + 0.2]), true, 'float noise is equal');
    assert.equal(hasZeroVariance([0, 1, 0, 0]), false);
    assert.equal(hasZeroVariance([null, 0.5, null, 0.25]), false);
    assert.equal(hasZeroVariance([null, null]), true, 'nothing scored: nothing to learn from');
    assert.equal(hasZeroVariance([null, 2]), true, 'one scored completion: nothing to compare');
  });
});

describe('step groups', () => {
  test('records of a step gathered by group with their prompt, flags and mean', () => {
    const records = grpoStep(5);
    // Interleaved arrival must not matter: groups come out in index order, completions in arrival order.
    const mixed = [records[4]!, records[0]!, records[5]!, records[1]!, records[6]!, records[2]!, records[7]!, records[3]!];
    const groups = stepGroups(mixed);
    assert.deepEqual(groups.map((g) => [g.group, g.prompt, g.completions.map((c) => c.completion), g.zeroVariance, g.meanReward]), [
      [0, 'What is 2+2?', ['a0', 'a1', 'a2', 'a3'], false, 0.25],
      [1, 'What is 12 × 13?', ['b0', 'b1', 'b2', 'b3'], true, 0],
    ]);
    assert.deepEqual(stepGroups([{ prompt: 'p', completion: 'plain' }]), [], 'plain samples are not groups');
  });

  test('a column per reward function, in the order first seen, across groups', () => {
    const rows: StepSample[] = [
      { prompt: 'p', completion: 'x', scored: { ...scored(0, 1, 0), rewards: { think_format: 1, exact_match: 0 } } },
      { prompt: 'q', completion: 'y', scored: { ...scored(1, 1, 0), rewards: { exact_match: null, length: 0.5 } } },
    ];
    assert.deepEqual(rewardNames(stepGroups(rows)), ['think_format', 'exact_match', 'length']);
  });

  test('sorting by advantage: best first, ties in sampled order; off: as sampled', () => {
    const rows = [-0.5, 1.2, 0, 1.2, -1].map((a, i) => ({ prompt: 'p', completion: `c${i}`, scored: scored(0, a, a) }));
    const [g] = stepGroups(rows);
    assert.deepEqual(orderCompletions(g!, true).map((c) => c.completion), ['c1', 'c3', 'c2', 'c0', 'c4']);
    assert.deepEqual(orderCompletions(g!, false).map((c) => c.completion), ['c0', 'c1', 'c2', 'c3', 'c4']);
    assert.deepEqual(g!.completions.map((c) => c.completion), ['c0', 'c1', 'c2', 'c3', 'c4'], 'sorting leaves the group as it was');
  });

  test('the filter hides the groups without signal; the summary counts them', () => {
    const groups = stepGroups(grpoStep(5));
    assert.deepEqual(visibleGroups(groups, true).map((g) => g.group), [0]);
    assert.deepEqual(visibleGroups(groups, false).map((g) => g.group), [0, 1]);
    assert.equal(groupsSummary(groups, true), '2 groups of 4 completions · 1 with zero reward variance (hidden)');
    assert.equal(groupsSummary(groups.slice(0, 1), false), '1 group of 4 completions');
  });

  test('an unscored completion (every reward null) and a failed reward keep their row', () => {
    const rows = [
      { prompt: 'p', completion: 'ok', scored: scored(0, 1, 0.7) },
      { prompt: 'p', completion: 'boom', scored: scored(0, null, 0, { error: 'reward.ts threw: bad input' }) },
      { prompt: 'p', completion: 'meh', scored: scored(0, 0, -0.7) },
    ];
    const [g] = stepGroups(rows);
    assert.equal(g!.completions.length, 3);
    assert.equal(g!.completions[1]!.scored.error, 'reward.ts threw: bad input');
    assert.equal(g!.meanReward, 0.5);
    assert.equal(g!.zeroVariance, false);
    assert.equal(g!.error, undefined, 'one completion\'s error stays on its row');
  });

  test('a reward function failing on the whole batch: its error is the group\'s, said once', () => {
    const error = 'plateau: threw on purpose';
    const rows = [0, 1, 2].map((i) => ({ prompt: 'p', completion: `c${i}`, scored: scored(0, null, 0, { rewards: { exact_match: 0, plateau: null }, error }) }));
    const [g] = stepGroups(rows);
    assert.equal(g!.error, error);
    assert.equal(g!.zeroVariance, true);
    assert.equal(g!.meanReward, null);
  });
});

describe('stepping through steps', () => {
  test('newest by default; a pinned step while it exists; neighbours for previous/next', () => {
    assert.equal(stepPosition([], undefined), undefined);
    assert.deepEqual(stepPosition([5, 10, 15], undefined), { step: 15, previous: 10, newest: true });
    assert.deepEqual(stepPosition([5, 10, 15], 10), { step: 10, previous: 5, next: 15, newest: false });
    assert.deepEqual(stepPosition([5, 10, 15], 5), { step: 5, next: 10, newest: false });
    assert.deepEqual(stepPosition([5, 10], 15), { step: 10, previous: 5, newest: true }, 'a step a resume dropped falls back to the newest');
  });
});

describe('sample store with scored records', () => {
  test('keeps `scored`, marks the steps that have it, reads a step back as groups', () => {
    const store = new SampleStore();
    store.run('r1');
    const M = RunSampleNotification.method;
    applySampleNotification(store, M, { runId: 'r1', record: { step: 1, prompt: 'plain', completion: 'p' } });
    for (const record of [...grpoStep(5), ...grpoStep(10)]) assert.equal(applySampleNotification(store, M, { runId: 'r1', record }), 'r1');
    const r = store.run('r1');
    assert.equal(r.count, 17);
    assert.deepEqual(r.scoredSteps(), [5, 10]);
    assert.equal(r.stepAt(1)!.samples[0]!.scored, undefined);
    const groups = stepGroups(r.stepAt(10)!.samples);
    assert.deepEqual(groups.map((g) => g.completions.map((c) => c.scored.advantage)), [[1.5, -0.5, -0.5, -0.5], [0, 0, 0, 0]]);
    // The existing readings still see every completion.
    assert.deepEqual(r.byPrompt('What is 2+2?').map((x) => [x.step, x.completions.length]), [[5, 4], [10, 4]]);
  });

  test('a malformed `scored` reads as a plain sample; a resume drops the later groups', () => {
    assert.equal(validScored({ group: 'x', advantage: 1, rewards: {} }), undefined);
    assert.equal(validScored(null), undefined);
    const r = new SampleStore().run('r1');
    r.add({ step: 5, prompt: 'p', completion: 'c', scored: { group: 0 } as unknown as ScoredCompletion });
    assert.deepEqual(r.scoredSteps(), []);
    assert.equal(r.count, 1);
    for (const x of [...grpoStep(10), ...grpoStep(15), ...grpoStep(10)]) r.add(x);
    assert.deepEqual(r.scoredSteps(), [10]);
    assert.equal(r.stepAt(10)!.samples.length, 8);
  });
});
