// The dashboard's pure logic: the metric store and its reducer, downsampling, EMA smoothing, ETA,
// grouping by namespace, status text, a preference run's headline numbers, GRPO's grouping, headline
// and no-signal warning.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { RunMetricsNotification, RunStatusNotification } from '../../../core/protocol/daemon.ts';
import { MetricStore, applyNotification } from '../../../webviews/dashboard/metricStore.ts';
import { Series } from '../../../webviews/dashboard/series.ts';
import { downsampleIndices, gather } from '../../../webviews/dashboard/downsample.ts';
import { smooth } from '../../../webviews/dashboard/smoothing.ts';
import { etaSeconds, formatDuration, recordArrival, stepsPerSecond, type StepArrival } from '../../../webviews/dashboard/eta.ts';
import { groupMetrics, isSmoothed, namespaceOf } from '../../../webviews/dashboard/grouping.ts';
import { progressText, runActions, statusText } from '../../../webviews/dashboard/statusLine.ts';
import { headlines } from '../../../webviews/dashboard/headline.ts';
import { signalWarning, ZERO_STD_WARNING } from '../../../webviews/dashboard/signalWarning.ts';
import { resubscribeFrom } from '../../../webviews/shared/resubscribe.ts';

function runInfo(over: Partial<RunInfo> = {}): RunInfo {
  return {
    id: 'r1', stage: 'sft', status: 'running', createdAt: '2026-11-21T18:00:00.000Z', model: 'tiny',
    data: { train: '/d.jsonl' }, args: {} as RunInfo['args'], lora: null, step: 0, resumes: [], ...over,
  };
}

describe('Series', () => {
  test('grows past its initial capacity and keeps every point', () => {
    const s = new Series();
    for (let i = 1; i <= 100_000; i++) s.push(i, 1 / i);
    assert.equal(s.length, 100_000);
    assert.equal(s.first, 1);
    assert.equal(s.last, 1 / 100_000);
    assert.equal(s.steps[99_999], 100_000);
  });

  test('a step at or before the last replaces the tail (a resumed run redid it)', () => {
    const s = new Series();
    for (let i = 1; i <= 10; i++) s.push(i, i);
    s.push(7, 70);
    assert.equal(s.length, 7);
    assert.deepEqual([...s.steps.subarray(0, s.length)], [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(s.last, 70);
  });

  test('incremental smoothing equals smoothing the whole array, also after truncation and weight changes', () => {
    const s = new Series();
    const values: number[] = [];
    for (let i = 0; i < 500; i++) {
      const v = Math.sin(i / 7) + (i % 3);
      values.push(v);
      s.push(i, v);
      if (i % 50 === 0) s.smoothedValues(0.6);
    }
    assert.deepEqual([...s.smoothedValues(0.6).subarray(0, 500)], [...smooth(values, 0.6)]);
    s.truncateFrom(300);
    for (let i = 300; i < 400; i++) s.push(i, -values[i]!);
    const expected = smooth([...values.slice(0, 300), ...values.slice(300, 400).map((v) => -v)], 0.6);
    assert.deepEqual([...s.smoothedValues(0.6).subarray(0, 400)], [...expected]);
    assert.deepEqual([...s.smoothedValues(0.9).subarray(0, 400)], [...smooth([...s.values.subarray(0, 400)], 0.9)]);
  });
});

describe('smoothing (debiased EMA)', () => {
  test('weight 0 is the identity; the first smoothed value is the first value; a constant stays constant', () => {
    assert.deepEqual([...smooth([3, 1, 4, 1, 5], 0)], [3, 1, 4, 1, 5]);
    assert.equal(smooth([3, 1, 4], 0.9)[0], 3);
    for (const v of smooth([2, 2, 2, 2, 2], 0.8)) assert.ok(Math.abs(v - 2) < 1e-12);
  });

  test('matches the closed form of a debiased EMA', () => {
    const w = 0.5;
    const out = smooth([1, 3], w);
    // (0.5*0.5*1 + 0.5*3)... accumulated = 0.25 + 1.5 = 1.75; debias 1 - 0.25 = 0.75
    assert.ok(Math.abs(out[1]! - 1.75 / 0.75) < 1e-12);
  });

  test('a non-finite value passes through without poisoning the rest', () => {
    const out = smooth([1, Number.NaN, 1], 0.5);
    assert.ok(Number.isNaN(out[1]!));
    assert.equal(out[2], 1);
  });
});

describe('downsampleIndices', () => {
  test('small series are returned whole', () => {
    const steps = [1, 2, 3, 4, 5];
    assert.deepEqual([...downsampleIndices(steps, steps, 5, 1, 5, 100)], [0, 1, 2, 3, 4]);
  });

  test('100k points fit in 4 per column, keep every column extreme, stay in order', () => {
    const n = 100_000;
    const steps = new Float64Array(n);
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      steps[i] = i + 1;
      values[i] = Math.sin(i / 100) + (i === 54_321 ? 50 : 0);
    }
    const idx = downsampleIndices(steps, values, n, 1, n, 800);
    assert.ok(idx.length <= 800 * 4 + 2, `${idx.length} points`);
    assert.ok(idx.length > 800);
    for (let k = 1; k < idx.length; k++) assert.ok(idx[k]! > idx[k - 1]!);
    assert.ok([...idx].includes(54_321), 'the spike survives');
    assert.equal(idx[0], 0);
    assert.equal(idx[idx.length - 1], n - 1);
    const shown = gather(values, idx);
    assert.equal(Math.max(...(shown as number[])), Math.max(...values));
    assert.equal(Math.min(...(shown as number[])), Math.min(...values));
  });

  test('a zoomed range keeps one neighbour on each side', () => {
    const steps = Array.from({ length: 100 }, (_, i) => i * 10);
    const idx = downsampleIndices(steps, steps, 100, 200, 300, 1000);
    assert.equal(idx[0], 19);
    assert.equal(idx[idx.length - 1], 31);
  });

  test('gather drops non-positive values on a log scale', () => {
    assert.deepEqual(gather([1, 0, -2, 4], Uint32Array.from([0, 1, 2, 3]), true), [1, null, null, 4]);
    assert.deepEqual(gather([1, 0, -2, 4], Uint32Array.from([0, 1, 2, 3]), false), [1, 0, -2, 4]);
  });
});

describe('metric store and reducer', () => {
  test('metrics and status notifications for shown runs are applied; others ignored', () => {
    const store = new MetricStore();
    store.run('r1');
    const m = RunMetricsNotification.method;
    assert.equal(applyNotification(store, m, { runId: 'r1', record: { step: 1, loss: 5, learning_rate: 1e-3 } }, false, 0), 'r1');
    assert.equal(applyNotification(store, m, { runId: 'r1', record: { step: 1, 'eval/loss': 6 } }, false, 0), 'r1');
    assert.equal(applyNotification(store, m, { runId: 'r1', record: { step: 2, loss: 4 } }, true, 1000), 'r1');
    assert.equal(applyNotification(store, m, { runId: 'other', record: { step: 1, loss: 1 } }, true, 0), undefined);
    assert.equal(applyNotification(store, m, null, true, 0), undefined);
    assert.equal(applyNotification(store, m, { runId: 'r1', record: { step: 'x', loss: 1 } }, true, 0), undefined);
    const r = store.run('r1');
    assert.equal(r.series.get('loss')!.length, 2);
    assert.equal(r.series.get('eval/loss')!.length, 1);
    assert.equal(r.lastStep, 2);
    assert.equal(r.arrivals.length, 1, 'replayed points do not count towards speed');
    assert.equal(applyNotification(store, RunStatusNotification.method, { run: runInfo({ status: 'completed' }) }, true, 0), 'r1');
    assert.equal(r.run?.status, 'completed');
  });

  test('a record from before the last step (resume) replaces every later point of every metric', () => {
    const store = new MetricStore();
    const r = store.run('r1');
    for (let s = 1; s <= 10; s++) r.add({ step: s, loss: s, 'eval/loss': s * 2 }, true, s);
    r.add({ step: 7, loss: 70 }, true, 11);
    assert.equal(r.series.get('loss')!.length, 7);
    assert.equal(r.series.get('eval/loss')!.length, 6);
    assert.equal(r.lastStep, 7);
  });

  test('truncateFrom before a replay, then the replay, gives the same data as an uninterrupted stream', () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, loss: 10 - i / 3, ...(i % 5 === 4 ? { 'eval/loss': 11 - i / 3 } : {}) }));
    const full = new MetricStore().run('r1');
    for (const rec of records) full.add(rec, false, 0);
    // The connection dropped after step 15's train record but before its eval record.
    const cut = new MetricStore().run('r1');
    for (const rec of records.slice(0, 14)) cut.add(rec, false, 0);
    cut.add({ step: 15, loss: records[14]!.loss }, false, 0);
    const from = resubscribeFrom(cut.lastStep, 0, { resumes: [] });
    assert.equal(from, 15);
    cut.truncateFrom(from);
    for (const rec of records.filter((x) => x.step >= from)) cut.add(rec, false, 0);
    for (const name of ['loss', 'eval/loss']) {
      const a = full.series.get(name)!;
      const b = cut.series.get(name)!;
      assert.deepEqual([...b.steps.subarray(0, b.length)], [...a.steps.subarray(0, a.length)], name);
      assert.deepEqual([...b.values.subarray(0, b.length)], [...a.values.subarray(0, a.length)], name);
    }
  });
});

describe('resubscribeFrom', () => {
  test('nothing held: the whole history', () => assert.equal(resubscribeFrom(undefined, 0, { resumes: [] }), 0));
  test('held up to a step: from that step (it may be incomplete)', () => assert.equal(resubscribeFrom(42, 0, { resumes: [] }), 42));
  test('a resume while away: from just after its checkpoint', () => {
    const run = { resumes: [{ fromStep: 10, at: 'a' }, { fromStep: 30, at: 'b' }] };
    assert.equal(resubscribeFrom(42, 1, run), 31);
    assert.equal(resubscribeFrom(42, 2, run), 42);
    assert.equal(resubscribeFrom(20, 1, run), 20);
  });
});

describe('ETA', () => {
  test('steps per second over the recent window and the time left', () => {
    let a: StepArrival[] = [];
    for (let s = 1; s <= 30; s++) a = recordArrival(a, { t: s * 500, step: s });
    assert.equal(a.length, 20);
    assert.equal(stepsPerSecond(a), 2);
    assert.equal(etaSeconds(a, 30, 100), 35);
    assert.equal(etaSeconds(a, 30, undefined), undefined);
    assert.equal(stepsPerSecond(a.slice(0, 1)), undefined);
    assert.equal(recordArrival(a, { t: 99_999, step: 3 }).length, 1, 'a resume restarts the window');
  });

  test('durations read naturally', () => {
    assert.equal(formatDuration(42.4), '42 s');
    assert.equal(formatDuration(185), '3 min 05 s');
    assert.equal(formatDuration(7620), '2 h 07 min');
  });
});

describe('grouping', () => {
  test('namespaces, leading metrics first, train, rewards and eval before the rest', () => {
    assert.equal(namespaceOf('loss'), 'train');
    assert.equal(namespaceOf('rewards/chosen'), 'rewards');
    assert.equal(namespaceOf('eval/rewards/margins'), 'eval');
    const groups = groupMetrics(['step', 'rewards/margins', 'grad_norm', 'eval/loss', 'epoch', 'loss', 'learning_rate', 'train/tokens_per_second', 'kl', 'rewards/chosen', 'eval/mean_token_accuracy', 'aux/x']);
    assert.deepEqual(groups, [
      { name: 'train', metrics: ['loss', 'learning_rate', 'grad_norm', 'train/tokens_per_second', 'epoch', 'kl'] },
      { name: 'rewards', metrics: ['rewards/margins', 'rewards/chosen'] },
      { name: 'eval', metrics: ['eval/loss', 'eval/mean_token_accuracy'] },
      { name: 'aux', metrics: ['aux/x'] },
    ]);
  });

  test('a DPO run (every metric TRL logs, train and eval): rewards right after train, margin and accuracy first', () => {
    const dpo = ['loss', 'grad_norm', 'learning_rate', 'epoch', 'num_tokens', 'train/tokens_per_second', 'entropy', 'logits/chosen', 'logits/rejected', 'mean_token_accuracy', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected'];
    const evals = ['loss', 'entropy', 'logits/chosen', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins'].map((m) => `eval/${m}`);
    const groups = groupMetrics(['step', ...dpo, ...evals]);
    assert.deepEqual(groups.map((g) => g.name), ['train', 'rewards', 'eval', 'logits', 'logps']);
    assert.deepEqual(groups[1]!.metrics, ['rewards/margins', 'rewards/accuracies', 'rewards/chosen', 'rewards/rejected']);
    assert.deepEqual(groups[2]!.metrics, ['eval/loss', 'eval/rewards/margins', 'eval/rewards/accuracies', 'eval/entropy', 'eval/logits/chosen', 'eval/rewards/chosen', 'eval/rewards/rejected']);
    assert.equal(groups[0]!.metrics[0], 'loss');
  });

  test('KTO (margins, no accuracies) and ORPO (its own loss terms in train) group the same way', () => {
    const kto = groupMetrics(['loss', 'kl', 'rewards/chosen', 'rewards/rejected', 'rewards/margins', 'logps/chosen']);
    assert.deepEqual(kto.map((g) => g.name), ['train', 'rewards', 'logps']);
    assert.deepEqual(kto[1]!.metrics, ['rewards/margins', 'rewards/chosen', 'rewards/rejected']);
    const orpo = groupMetrics(['loss', 'nll_loss', 'log_odds_ratio', 'log_odds_chosen', 'rewards/accuracies', 'rewards/margins']);
    assert.deepEqual(orpo[0]!.metrics, ['loss', 'log_odds_chosen', 'log_odds_ratio', 'nll_loss']);
    assert.deepEqual(orpo[1]!.metrics, ['rewards/margins', 'rewards/accuracies']);
  });

  test('a GRPO run (every metric the engine logs): rewards right after train, the total first, then lengths and clip ratios', () => {
    const grpo = [
      'loss', 'grad_norm', 'learning_rate', 'epoch', 'num_tokens', 'kl', 'entropy',
      'reward', 'reward_std', 'frac_reward_zero_std', 'rewards/exact_match/mean', 'rewards/exact_match/std', 'rewards/think_format/mean', 'rewards/think_format/std',
      'completions/mean_length', 'completions/min_length', 'completions/max_length', 'completions/clipped_ratio',
      'completions/mean_terminated_length', 'completions/min_terminated_length', 'completions/max_terminated_length',
      'clip_ratio/low_mean', 'clip_ratio/low_min', 'clip_ratio/high_mean', 'clip_ratio/high_max', 'clip_ratio/region_mean',
    ];
    const groups = groupMetrics(['step', ...grpo]);
    assert.deepEqual(groups.map((g) => g.name), ['train', 'rewards', 'completions', 'clip_ratio']);
    assert.deepEqual(groups[0]!.metrics, ['loss', 'learning_rate', 'grad_norm', 'entropy', 'epoch', 'kl', 'num_tokens']);
    assert.deepEqual(groups[1]!.metrics, [
      'reward', 'reward_std', 'frac_reward_zero_std',
      'rewards/exact_match/mean', 'rewards/exact_match/std', 'rewards/think_format/mean', 'rewards/think_format/std',
    ]);
    assert.deepEqual(groups[2]!.metrics.slice(0, 2), ['completions/mean_length', 'completions/clipped_ratio']);
    assert.equal(groups[2]!.metrics.length, 7);
    assert.deepEqual(groups[3]!.metrics, ['clip_ratio/region_mean', 'clip_ratio/low_mean', 'clip_ratio/high_mean', 'clip_ratio/high_max', 'clip_ratio/low_min']);
    assert.equal(namespaceOf('reward'), 'rewards');
    assert.equal(namespaceOf('frac_reward_zero_std'), 'rewards');
    assert.equal(namespaceOf('mean_reward'), 'train', 'a reward model\'s batch statistics stay with training');
  });

  test('schedules and counters are never smoothed', () => {
    assert.equal(isSmoothed('loss'), true);
    assert.equal(isSmoothed('rewards/margins'), true);
    assert.equal(isSmoothed('learning_rate'), false);
    assert.equal(isSmoothed('num_tokens'), false);
  });
});

describe('headline numbers', () => {
  test('a preference run shows its latest reward accuracy and margin, each with its eval value', () => {
    const r = new MetricStore().run('dpo-1');
    r.add({ step: 1, loss: 0.693, 'rewards/accuracies': 0.125, 'rewards/margins': -0.0000013 }, true, 0);
    r.add({ step: 1, 'eval/loss': 0.88, 'eval/rewards/accuracies': 0.5416666, 'eval/rewards/margins': 0.4968844 }, true, 0);
    r.add({ step: 2, loss: 0.57, 'rewards/accuracies': 0.875, 'rewards/margins': 0.3510257 }, true, 0);
    assert.deepEqual(headlines(r.series), [
      {
        metric: 'rewards/accuracies',
        train: { metric: 'rewards/accuracies', text: '0.875', value: 0.875, step: 2 },
        eval: { metric: 'eval/rewards/accuracies', text: '0.5417', value: 0.5416666, step: 1 },
      },
      {
        metric: 'rewards/margins',
        train: { metric: 'rewards/margins', text: '0.351', value: 0.3510257, step: 2 },
        eval: { metric: 'eval/rewards/margins', text: '0.4969', value: 0.4968844, step: 1 },
      },
    ]);
  });

  test('KTO has a margin but no accuracy; SFT has neither; a resumed run shows its redone value', () => {
    const kto = new MetricStore().run('kto-1');
    kto.add({ step: 4, loss: 0.56, kl: 0, 'rewards/margins': -1.5168 }, true, 0);
    assert.deepEqual(headlines(kto.series), [{ metric: 'rewards/margins', train: { metric: 'rewards/margins', text: '-1.517', value: -1.5168, step: 4 } }]);
    const sft = new MetricStore().run('sft-1');
    sft.add({ step: 1, loss: 2, mean_token_accuracy: 0.5, 'eval/loss': 2.5 }, true, 0);
    assert.deepEqual(headlines(sft.series), []);
    const resumed = new MetricStore().run('dpo-2');
    for (let s = 1; s <= 5; s++) resumed.add({ step: s, 'rewards/margins': s }, true, 0);
    resumed.add({ step: 3, 'rewards/margins': 30 }, true, 0);
    assert.deepEqual(headlines(resumed.series).map((c) => c.train?.text), ['30']);
  });

  test('a reward model shows its pair accuracy and margin (RewardTrainer names)', () => {
    const rm = new MetricStore().run('reward-1');
    rm.add({ step: 5, loss: 0.3, accuracy: 0.75, margin: 1.2, min_reward: -1, mean_reward: 0, max_reward: 1 }, true, 0);
    rm.add({ step: 5, 'eval/loss': 0.2, 'eval/accuracy': 1, 'eval/margin': 1.8 }, true, 0);
    assert.deepEqual(headlines(rm.series).map((h) => [h.metric, h.train?.text, h.eval?.text]), [['accuracy', '0.75', '1'], ['margin', '1.2', '1.8']]);
  });
});

describe('GRPO headline and no-signal warning', () => {
  test('a GRPO run shows its latest mean reward', () => {
    const r = new MetricStore().run('grpo-1');
    r.add({ step: 5, loss: 0, reward: 0.125, reward_std: 0.33, frac_reward_zero_std: 0.5 }, true, 0);
    r.add({ step: 10, loss: 0, reward: 0.4375, reward_std: 0.5, frac_reward_zero_std: 0 }, true, 0);
    assert.deepEqual(headlines(r.series), [{ metric: 'reward', train: { metric: 'reward', text: '0.4375', value: 0.4375, step: 10 } }]);
  });

  test('warns from 75% zero-variance groups at the latest step, and stops warning when it falls', () => {
    assert.equal(ZERO_STD_WARNING, 0.75);
    const r = new MetricStore().run('grpo-1');
    assert.equal(signalWarning(r.series), undefined, 'nothing logged');
    r.add({ step: 5, reward: 0, frac_reward_zero_std: 0.5 }, true, 0);
    assert.equal(signalWarning(r.series), undefined);
    r.add({ step: 10, reward: 0, frac_reward_zero_std: 0.75 }, true, 0);
    const w = signalWarning(r.series);
    assert.equal(w?.step, 10);
    assert.equal(w?.value, 0.75);
    assert.match(w!.text, /^At step 10, 75% of the prompt groups got the same reward for every completion/);
    assert.match(w!.text, /no learning signal/);
    assert.match(w!.text, /too hard or too easy for the model; adjust the rewards .* or the data/);
    r.add({ step: 15, reward: 0.2, frac_reward_zero_std: 0.25 }, true, 0);
    assert.equal(signalWarning(r.series), undefined);
    const sft = new MetricStore().run('sft-1');
    sft.add({ step: 1, loss: 2 }, true, 0);
    assert.equal(signalWarning(sft.series), undefined, 'other stages never warn');
  });
});

describe('status line', () => {
  test('says what happened and what to do', () => {
    assert.equal(statusText(runInfo({ status: 'interrupted' })), 'interrupted — resume to continue');
    assert.equal(statusText(runInfo({ status: 'failed', error: 'Out of memory.' })), 'failed: Out of memory.');
    assert.equal(statusText(runInfo({ status: 'running', phase: 'training', backend: { name: 'wasm', device: 'cpu', skipped: [] } })), 'running · training · wasm (cpu)');
    assert.deepEqual(runActions(runInfo({ status: 'running' })), { canStop: true, canResume: false });
    assert.deepEqual(runActions(runInfo({ status: 'interrupted' })), { canStop: false, canResume: true });
    assert.deepEqual(runActions(runInfo({ status: 'completed' })), { canStop: false, canResume: false });
    assert.equal(progressText(120, 400, 2, 140, true), 'step 120 / 400 · 2.0 steps/s · ETA 2 min 20 s');
    assert.equal(progressText(400, 400, 2, 0, false), 'step 400 / 400');
  });
});
