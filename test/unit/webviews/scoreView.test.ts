// How the inspector and the report write a model's scores: signed margins, the tooltip's verdict, the
// header's counts, and the report histogram's layout (bars below 0 marked, the 0 line, edge labels).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScore, marginTitle, scoreSummaryText } from '../../../webviews/pairs/scoreText.ts';
import { edgeLabel, marginLayout } from '../../../webviews/report/marginBars.ts';
import { marginHistogram } from '../../../core/pairs/marginHistogram.ts';

test('scores read with a sign and two decimals; the tooltip says which answer the model prefers', () => {
  assert.equal(formatScore(-3.3081), '-3.31');
  assert.equal(formatScore(0.392), '+0.39');
  assert.equal(formatScore(-0.001), '0.00');
  assert.equal(formatScore(123.45), '+123.5');
  assert.match(marginTitle({ chosen: -3.56, rejected: -0.25, margin: -3.31 }), /chosen -3\.56 − rejected -0\.25; the model prefers the rejected answer: check the label\./);
  assert.match(marginTitle({ chosen: 1, rejected: 0, margin: 1 }), /prefers the chosen answer/);
});

test('the header: what scored the pairs, how many are backwards, how many have no score', () => {
  const base = { kind: 'implicit-reward' as const, description: 'implicit reward of run dpo-1 against its base tiny (beta 0.1)' };
  const three = scoreSummaryText({ ...base, scored: 24, negative: 3, unscored: 0 });
  assert.equal(three.scoredBy, 'Scored by the implicit reward of run dpo-1 against its base tiny (beta 0.1).');
  assert.equal(three.negative, '3 of 24 scored pairs have a margin below 0: the model prefers their rejected answer.');
  assert.equal(three.unscored, undefined);
  assert.match(scoreSummaryText({ ...base, scored: 24, negative: 0, unscored: 1 }).negative, /^All 24 scored pairs have a margin ≥ 0/);
  assert.equal(scoreSummaryText({ ...base, scored: 23, negative: 0, unscored: 1 }).unscored, '1 pair has no score (edited or added since, or too long to score).');
});

test('the report histogram: bars left of 0 are negative, the 0 line sits on the middle edge', () => {
  const h = marginHistogram([-3.3, -2.96, -1.78, 0.39, 4.17]);
  const layout = marginLayout(h.edges, h.counts, 640, 120);
  assert.equal(layout.bars.length, 20);
  assert.equal(layout.zeroX, 320);
  assert.deepEqual(layout.bars.map((b) => b.negative), [...Array(20).keys()].map((i) => i < 10));
  assert.equal(layout.bars.filter((b) => b.negative).reduce((n, b) => n + b.count, 0), 3);
  assert.deepEqual(layout.ticks.map((t) => t.label), ['-5.0', '-2.5', '0', '2.5', '5.0']);
  assert.equal(Math.max(...layout.bars.map((b) => b.height)), 120, 'the tallest bin fills the box');
  assert.equal(layout.bars[3].range, '-3.5 to -3.0');
  assert.equal(edgeLabel(0.25, 0.25), '0.25');
  assert.equal(edgeLabel(-0.00000001, 0.1), '0');
  assert.equal(edgeLabel(20, 2), '20');
  assert.deepEqual(marginLayout([], [], 100, 10).bars, []);
});
