// The built-in rewards ported to Python (python/anneal_trl/rewards.py) score like core/rewards: both run
// on the same completions and columns. Skipped where the venv's Python is absent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createBuiltinReward } from '../../../core/rewards/index.ts';
import { launcherEnv } from '../../../daemon/trl/environment.ts';
import { trlPython } from '../../integration/trl/python.ts';

const completions = [
  '<think>2+2 is 4</think><answer>4</answer>',
  'The answer is \\boxed{1,000}.',
  '<think>x</think> <answer>\\frac{3}{4}</answer>',
  'I think it is 5 apples.',
  '```json\n{"a": [1, 2]}\n```',
  '{"a": NaN}',
  '<answer>Paris.</answer>',
  'no tags at all, just words here',
  '<think>unclosed <answer>7',
  '−3/4',
];
const answers = ['4', '1000', '0.75', 5, 'x', 'y', 'paris', '', '7', '-0.75'];
const prompts = completions.map(() => 'q');
const configs = [
  { name: 'answer_match', column: 'answer' },
  { name: 'answer_match', options: { tolerance: 0.5, tolerance_mode: 'absolute' } },
  { name: 'think_format' },
  { name: 'think_format', options: { mode: 'soft' } },
  { name: 'regex', options: { pattern: '^<think>', flags: 'i' } },
  { name: 'regex', options: { pattern: '(?<n>\\d+)' } },
  { name: 'json_valid' },
  { name: 'length', options: { unit: 'chars', target: 20 } },
  { name: 'length', options: { unit: 'chars', max: 10, ramp: 5 } },
  { name: 'length', options: { unit: 'words', target: 4 } },
];

test('the Python port of the built-in rewards scores as core/rewards does', (t) => {
  const env = trlPython();
  if ('skip' in env) return t.skip(env.skip);
  const script = `
import json, sys
from anneal_trl.rewards import make_builtin
job = json.load(sys.stdin)
out = []
for c in job["configs"]:
    fn = make_builtin({"builtin": c["name"], **c})
    out.append(fn(job["prompts"], job["completions"], None, answer=job["answers"]))
print(json.dumps(out))
`;
  const r = spawnSync(env.python, ['-c', script], { input: JSON.stringify({ configs, prompts, completions, answers }), encoding: 'utf8', env: launcherEnv() });
  assert.equal(r.status, 0, r.stderr);
  const python = JSON.parse(r.stdout) as (number | null)[][];
  configs.forEach((config, i) => {
    const ts = createBuiltinReward(config)({ prompts, completions, answer: answers });
    assert.deepEqual(python[i].map((v) => (v === null ? null : Math.round(v * 1e9) / 1e9)), ts.map((v) => (v === null ? null : Math.round(v * 1e9) / 1e9)), JSON.stringify(config));
  });
});
