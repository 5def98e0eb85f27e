// Workspace Trust's decision, as pure functions: which reward modules a recipe (or a run) would run,
// and whether an untrusted workspace refuses to start it. The editor's "Train" and "Resume" commands
// (extension/client/train/trust.ts) show the refusal with a button opening the trust editor.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rewardModules, untrustedRefusal } from '../../../core/recipe/userCode.ts';
import { recipeFacts } from '../../../extension/client/train/trainPlan.ts';

test('the reward modules of a recipe, absolute, once each; built-ins and reward models run no workspace code', () => {
  const rewards = ['exact_match', { name: 'fmt', file: 'rewards/format.ts' }, { name: 'rm', model: 'runs/rm/output' }, { name: 'again', file: './rewards/format.ts' }, { name: 'abs', file: '/opt/r.js' }, 42, { file: '' }];
  assert.deepEqual(rewardModules(rewards, '/w/grpo.anneal.yaml'), ['/w/rewards/format.ts', '/opt/r.js']);
  assert.deepEqual(rewardModules(undefined, '/w/r.anneal.yaml'), []);
  assert.deepEqual(rewardModules([{ name: 'think_format' }], '/w/r.anneal.yaml'), []);
  // A run's resolved rewards are absolute already.
  assert.deepEqual(rewardModules([{ name: 'x', file: '/w/x.ts', weight: 1 }], ''), ['/w/x.ts']);
});

test('the editor reads a recipe\'s reward modules, merge keys included', () => {
  const text = 'stage: grpo\nmodel: tiny\ndata: {train: p.jsonl}\nbase: &mine {name: mine, file: r.ts}\nrewards:\n  - <<: *mine\n  - think_format\n';
  assert.deepEqual(recipeFacts(text, '/w/a.anneal.yaml').rewardModules, ['/w/r.ts']);
  assert.equal(recipeFacts('stage: grpo\nrewards: [think_format]\n', '/w/a.anneal.yaml').rewardModules, undefined);
});

test('an untrusted workspace refuses a recipe that runs reward modules, and only that', () => {
  assert.equal(untrustedRefusal('grpo.anneal.yaml', ['rewards/format.ts'], true), undefined);
  assert.equal(untrustedRefusal('grpo.anneal.yaml', [], false), undefined);
  assert.equal(
    untrustedRefusal('grpo.anneal.yaml', ['rewards/format.ts'], false),
    'grpo.anneal.yaml runs rewards/format.ts as a reward function, which is code from this workspace; trust the workspace to run it, then train again.',
  );
  assert.match(untrustedRefusal('Run 7', ['a.ts', 'b.ts', 'c.js'], false)!, /^Run 7 runs a.ts, b.ts and c.js as reward functions, .* to run them, then train again\.$/);
});
