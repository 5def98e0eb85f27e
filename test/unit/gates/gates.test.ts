// Gates on recorded metric streams: conditions parse as a recipe writes them, seed 004's defaults per
// stage, a recipe's edits on top (with located problems for the editor), and the verdicts: pass, fail,
// not measured, rollback on a NaN or diverging loss and on trend conditions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultGates, evaluateGates, parseCondition, readGates, rollbackNow, statisticOf } from '../../../core/gates/index.ts';
import type { MetricRecord } from '../../../core/protocol/runs.ts';

const stream = (name: string, values: number[], every = 10): MetricRecord[] => values.map((v, i) => ({ step: (i + 1) * every, [name]: v }));

test('conditions parse as written: statistic, comparison, number, percentages for a change, while clauses', () => {
  assert.deepEqual(parseCondition('eval/loss', '< 1.5'), { metric: 'eval/loss', statistic: 'last', op: '<', value: 1.5, text: '< 1.5' });
  const c = parseCondition('eval/perplexity', 'change < -20%');
  assert.ok(typeof c !== 'string' && c.statistic === 'change' && Math.abs(c.value + 0.2) < 1e-12);
  const w = parseCondition('eval/loss', 'trend > 0 while loss trend < 0');
  assert.ok(typeof w !== 'string' && w.while?.[0]?.metric === 'loss' && w.while[0].op === '<');
  assert.match(parseCondition('x', 'below 3') as string, /is not a gate condition/);
  assert.match(parseCondition('x', '< 20%') as string, /a percentage compares a relative change/);
});

test('statistics: last, best (by the metric\'s direction), first, mean, change, trend over the last 3', () => {
  const pts = [3, 2, 2.5, 4].map((value, i) => ({ step: i, value }));
  assert.equal(statisticOf(pts, 'last', 'eval/loss'), 4);
  assert.equal(statisticOf(pts, 'best', 'eval/loss'), 2);
  assert.equal(statisticOf(pts, 'best', 'reward'), 4);
  assert.equal(statisticOf(pts, 'mean', 'x'), 2.875);
  assert.ok(Math.abs(statisticOf(pts, 'change', 'x')! - 1 / 3) < 1e-12);
  assert.equal(statisticOf(pts, 'trend', 'x'), 1); // 2, 2.5, 4: slope 1 per point
  assert.equal(statisticOf(pts.slice(0, 1), 'trend', 'x'), undefined);
});

test('seed 004\'s DPO gates: a run that wins and stays close passes; one that drifts fails its exit and rolls back', () => {
  const gates = defaultGates('dpo');
  const good = [...stream('eval/win_rate', [0.5, 0.58, 0.61]), ...stream('eval/kl', [0.1, 0.2, 0.3]), ...stream('eval/distinct_2', [0.6, 0.6, 0.55])];
  const ok = evaluateGates(gates, good, { 'data/pairs': 1500, 'data/identical_pairs': 0 });
  assert.equal(ok.passed, true, ok.results.map((r) => r.line).join('\n'));
  assert.equal(ok.rollback, null);
  const drift = [...stream('eval/win_rate', [0.6, 0.5, 0.45]), ...stream('eval/kl', [0.4, 0.9, 1.3])];
  const bad = evaluateGates(gates, drift, { 'data/pairs': 60, 'data/identical_pairs': 0 });
  assert.equal(bad.passed, false);
  assert.equal(bad.rollback?.condition.metric, 'eval/kl');
  assert.match(bad.rollback!.line, /^eval\/kl 1\.3 vs > 1\.0: roll back \(KL > 1\.0: the model has drifted\)$/);
  // 60 pairs is below the seed's 1k, but that advice never blocks; distinct-2 was not measured.
  const size = bad.results.find((r) => r.condition.metric === 'data/pairs')!;
  assert.equal(size.verdict, 'fail');
  assert.equal(size.condition.severity, 'advise');
  assert.equal(bad.results.find((r) => r.condition.metric === 'eval/distinct_2')!.verdict, 'not-measured');
  assert.ok(bad.results.some((r) => r.condition.metric === 'eval/win_rate' && r.kind === 'rollback' && r.verdict === 'fail'), 'the falling win rate triggers too');
});

test('SFT overfitting (train loss down while eval loss up) is a rollback; either alone is not', () => {
  const gates = defaultGates('sft');
  const train = stream('loss', [2, 1.5, 1.2, 1.0, 0.8, 0.7]);
  const rising = [...train, ...stream('eval/loss', [1.4, 1.3, 1.35, 1.45], 15)];
  assert.match(rollbackNow(gates, rising)!, /^eval\/loss trend 0\.075 vs trend > 0 while loss trend < 0: roll back \(overfitting/);
  assert.equal(rollbackNow(gates, [...train, ...stream('eval/loss', [1.4, 1.3, 1.2], 20)]), null);
});

test('a NaN loss or a diverging loss rolls back at once; early noise does not', () => {
  const gates = defaultGates('grpo');
  assert.match(rollbackNow(gates, stream('loss', [1, 0.9, NaN]))!, /the loss is NaN at step 30: training broke down/);
  assert.match(rollbackNow(gates, stream('loss', [1, 0.5, 0.4, 0.45, 1.2, 1.3, 1.5]))!, /the loss is diverging: 1\.333 over the last 3 logs, more than twice its best 0\.4/);
  assert.equal(rollbackNow(gates, stream('loss', [1, 2.5, 0.8])), null);
  assert.match(rollbackNow(gates, stream('entropy', [1.2, 0.4, 0.03]))!, /entropy 0\.03 vs < 0\.05: roll back \(entropy collapse/);
});

test('a recipe edits the defaults per metric, switches one off, adds its own, or starts from none; problems are located', () => {
  const { gates, problems } = readGates('dpo', { exit: { 'eval/kl': '< 0.8', 'eval/win_rate': 'off', 'rewards/accuracies': 'best > 0.9' }, rollback: { 'eval/k1': '> 2' } });
  assert.deepEqual(gates.exit.map((c) => `${c.metric} ${c.text}`), ['eval/kl < 0.8', 'rewards/accuracies best > 0.9']);
  assert.equal(gates.exit[0]!.why, "the recipe's threshold; seed 004's is < 0.5", 'a changed threshold drops the default\'s reason, which no longer matches it');
  // The same condition written again (another spelling) keeps seed 004's reason; a changed one says whose it is.
  assert.equal(readGates('dpo', { exit: { 'eval/kl': 'last <  0.5' } }).gates.exit.find((c) => c.metric === 'eval/kl')!.why, 'KL divergence to the reference < 0.5');
  const pairs = readGates('dpo', { entry: { 'data/pairs': '>= 100' } }).gates.entry.find((c) => c.metric === 'data/pairs')!;
  const line = evaluateGates({ entry: [pairs], exit: [], rollback: [] }, [], { 'data/pairs': 60 }).results[0]!.line;
  assert.doesNotMatch(line, /1k pairs/);
  assert.match(line, /vs >= 100: fail \(the recipe's threshold; seed 004's is >= 1000\)/);
  assert.deepEqual(problems, [{ path: ['gates', 'rollback', 'eval/k1'], message: 'Stage dpo never logs `eval/k1`, so this gate could only read "not measured"; did you mean `eval/kl`?', severity: 'warning', on: 'key' }]);
  assert.deepEqual(readGates('sft', { defaults: false, exit: { 'eval/loss': '< 1.5' } }).gates, { entry: [], exit: [{ metric: 'eval/loss', statistic: 'last', op: '<', value: 1.5, text: '< 1.5' }], rollback: [] });
  // The flat form is a list of exit conditions.
  assert.deepEqual(readGates('sft', { defaults: false, 'eval/loss': '< 1.5' }).problems.map((p) => p.message), ['`eval/loss` is not a gate kind; use entry, exit or rollback (or defaults: false).']);
  assert.deepEqual(readGates('sft', { 'eval/loss': '< 1.5' }).gates.exit.at(-1)?.text, '< 1.5');
  const impossible = readGates('dpo', { exit: { 'eval/win_rate': '> 55', 'eval/kl': 'soon' } }).problems;
  assert.deepEqual(impossible.map((p) => [p.path.at(-1), p.severity, p.message]), [
    ['eval/win_rate', 'error', '`eval/win_rate` lies between 0 and 1, so "> 55" can never hold; did you mean 0.55 (a fraction, not a percentage)?'],
    ['eval/kl', 'error', '`soon` is not a gate condition; write a comparison and a number, e.g. "< 1.5", "change < -20%" or "trend > 0" (statistics: last, best, first, mean, change, trend).'],
  ]);
  assert.match(readGates('grpo', { rollback: { 'rewards/format/mean': '< 0.1' } }).problems.map((p) => p.message).join(''), /^$/, 'a per-function reward is a known GRPO metric');
});
