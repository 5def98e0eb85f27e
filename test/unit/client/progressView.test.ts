// The CLI's view of a followed run: while the run downloads its model, a bar redrawn in place on a
// TTY, a line per tenth otherwise, and the ordinary status line once the download is over; while it
// trains, the loss with a preference run's reward accuracy and margin, and its evaluations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { humanView, jsonView } from '../../../daemon/client/progress.ts';

function stream(tty: boolean): NodeJS.WriteStream & { text: string } {
  const out = { text: '', isTTY: tty, columns: 200, write: (s: string) => ((out.text += s), true) };
  return out as unknown as NodeJS.WriteStream & { text: string };
}

const run = (extra: Partial<RunInfo>): RunInfo =>
  ({ id: 'r1', stage: 'sft', status: 'running', phase: 'loading', createdAt: '', model: 'org/m', data: { train: '/d' }, args: {}, lora: null, step: 0, ...extra }) as RunInfo;

test('a download draws a bar in place on a TTY, and the next status replaces it', () => {
  const out = stream(true);
  const view = humanView(out);
  view.status(run({ message: 'downloading org/m: model.safetensors, 50 B of 100 B (50%)', progress: { done: 50, total: 100 } }));
  assert.equal(out.text, `\r\x1b[2K${'█'.repeat(12)}${'░'.repeat(12)} downloading org/m: model.safetensors, 50 B of 100 B (50%)`);
  out.text = '';
  view.status(run({ phase: 'training', message: undefined }));
  assert.equal(out.text, '\r\x1b[2K[r1] running (training)\n');
});

test('without a TTY a download prints one line per tenth', () => {
  const out = stream(false);
  const view = humanView(out);
  for (const done of [0, 3, 9, 10, 55, 59, 100]) view.status(run({ message: `at ${done}`, progress: { done, total: 100 } }));
  assert.deepEqual(out.text.trim().split('\n'), ['[r1] at 0', '[r1] at 10', '[r1] at 55', '[r1] at 100']);
});

const dpoStep = { step: 4, loss: 0.5728755, 'rewards/accuracies': 0.875, 'rewards/margins': 0.3510257, 'rewards/chosen': 0.93, 'train/tokens_per_second': 4506.4 };
const dpoEval = { step: 4, 'eval/loss': 0.4824232, 'eval/rewards/accuracies': 0.875, 'eval/rewards/margins': 0.627992 };

test('a preference run adds the reward accuracy and margin next to the loss; its eval line has no stray "loss -"', () => {
  const out = stream(false);
  const view = humanView(out);
  view.status(run({ stage: 'dpo', phase: 'training', totalSteps: 10 }));
  out.text = '';
  view.metrics({ step: 1, loss: 0.6931478, 'rewards/accuracies': 0.125, 'rewards/margins': -0.0000013 });
  view.metrics(dpoStep);
  view.metrics(dpoEval);
  // The ETA depends on the clock; the numbers do not.
  const lines = out.text.trim().split('\n').map((l) => l.replace(/ETA .*/, 'ETA x'));
  assert.deepEqual(lines, [
    'step 1/10 loss 0.6931  acc 0.13  margin 0.000  ETA x',
    'step 4/10 loss 0.5729  acc 0.88  margin 0.351  4506 tok/s  ETA x',
    'step 4/10 eval/loss 0.4824  eval/acc 0.88  eval/margin 0.628  ETA x',
  ]);
});

test('KTO has a margin and no accuracy; SFT lines are as before', () => {
  const out = stream(false);
  const view = humanView(out);
  view.metrics({ step: 3, loss: 0.5638787, kl: 0, 'rewards/margins': -1.5168001 });
  view.metrics({ step: 4, loss: 2.5, 'rewards/margins': null as unknown as number });
  view.metrics({ step: 5, loss: 1.25, mean_token_accuracy: 0.5, 'train/tokens_per_second': 900 });
  view.metrics({ step: 5, 'eval/loss': 1.5 });
  assert.deepEqual(out.text.trim().split('\n').map((l) => l.replace(/ETA .*/, 'ETA x')), [
    'step 3 loss 0.5639  margin -1.52  ETA x',
    'step 4 loss 2.500  ETA x',
    'step 5 loss 1.250  900 tok/s  ETA x',
    'step 5 eval/loss 1.500  ETA x',
  ]);
});

test('on a TTY the bar holds the training numbers; an evaluation is a line kept above it', () => {
  const out = stream(true);
  const view = humanView(out);
  view.status(run({ stage: 'dpo', phase: 'training', totalSteps: 8 }));
  out.text = '';
  view.metrics(dpoStep);
  const bar = `step 4/8 ${'█'.repeat(12)}${'░'.repeat(12)} loss 0.5729  acc 0.88  margin 0.351  4506 tok/s  ETA ?`;
  assert.equal(out.text, `\r\x1b[2K${bar}`);
  out.text = '';
  view.metrics(dpoEval);
  assert.equal(out.text, `\r\x1b[2Keval @ step 4/8: eval/loss 0.4824  eval/acc 0.88  eval/margin 0.628\n\r\x1b[2K${bar}`);
});

test('--json prints each record as it came', () => {
  let text = '';
  const view = jsonView((s) => (text += s));
  view.metrics(dpoStep);
  assert.deepEqual(JSON.parse(text), { event: 'metrics', ...dpoStep });
});

test('a GRPO run shows its mean reward and the share of flat groups; its groups print one line each, with the reward', () => {
  const out = stream(false);
  const view = humanView(out);
  view.status(run({ stage: 'grpo', totalSteps: 40 }));
  out.text = '';
  view.metrics({ step: 3, loss: 0.0123, reward: 0.4375, frac_reward_zero_std: 0.25 });
  assert.match(out.text, /^step 3\/40 loss 0\.01230  reward 0\.438  25% groups flat  ETA/);
  out.text = '';
  const scored = (group: number, reward: number | null, completion: string, error?: string) => ({ step: 3, prompt: 'What is 2 + 2?', completion, scored: { group, rewards: { answer_match: reward }, reward, advantage: 0, length: 5, truncated: false, ...(error ? { error } : {}) } });
  view.sample(scored(0, 1, '4'));
  view.sample(scored(0, 0, '5'));
  view.sample(scored(1, null, '22', 'flaky: timed out'));
  assert.deepEqual(out.text.trim().split('\n'), ['group 0 @ step 3: "What is 2 + 2?" -> "4" (reward 1)', 'group 1 @ step 3: "What is 2 + 2?" -> "22" (no reward; flaky: timed out)']);
});
