// A model's scores on the pair inspector's pairs: keyed by each record's text (a moved record keeps
// its score, an edited one loses it), the "margin < 0" filter, the lowest-margin-first order with
// unscored pairs last, the header's counts, the report's margin histogram, and the check that a file
// holds preference pairs before a model is loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DatasetModel } from '../../../core/datasets/model.ts';
import { pairIndexFromModel } from '../../../core/pairs/pairIndex.ts';
import { effectiveFilter, filterPairs, isIdentityFilter } from '../../../core/pairs/pairFilter.ts';
import { byMargin, marginSummary, pairMargins, scoredFile, sortByMargin } from '../../../core/pairs/pairScores.ts';
import { marginHistogram, niceStep } from '../../../core/pairs/marginHistogram.ts';
import { scorableDataProblem } from '../../../core/pairs/scorableData.ts';
import { swapSides } from '../../../core/pairs/pairEdit.ts';
import type { PairScore } from '../../../core/protocol/scorePairs.ts';
import { PairsSource } from '../../../extension/client/panels/pairsSource.ts';

const pair = (i: number) => JSON.stringify({ prompt: `question ${i}`, chosen: `good answer ${i}`, rejected: `bad ${i}` });
const lines = [pair(0), pair(1), '', pair(3), pair(4), pair(5)];
/** Margins by line: two below 0 (lines 3 and 5), a tie at 0 (line 4). */
const MARGINS: Record<number, number> = { 0: 1.5, 1: 0.25, 3: -2, 4: 0, 5: -0.5 };
const scores: PairScore[] = Object.entries(MARGINS).map(([line, margin]) => ({ line: Number(line), chosen: margin, rejected: 0, margin }));
const result = { kind: 'implicit-reward' as const, description: 'implicit reward of run dpo-1 against its base tiny (beta 0.1)', scores, skipped: 0, runId: 'dpo-1' };

function indexOf(text: string[]) {
  const model = new DatasetModel({});
  model.setText(text.join('\n'));
  return pairIndexFromModel(model);
}

test('scores are keyed by the scored text; margins follow the text, not the line number', () => {
  const file = scoredFile(result, (l) => lines[l]);
  assert.equal(file.byText.size, 5);
  assert.equal(file.scored, 5);
  assert.equal(file.runId, 'dpo-1');
  // A line inserted on top shifts every record down; each keeps its score. Line 1 is then edited (swapped).
  const now = ['{"prompt": "new", "chosen": "a", "rejected": "b"}', ...lines];
  now[2] = swapSides(now[2]);
  const index = indexOf(now);
  const margins = pairMargins(index, (l) => now[l], file);
  assert.deepEqual([...index.lines], [0, 1, 2, 4, 5, 6]);
  assert.deepEqual([...margins].map((m) => (Number.isNaN(m) ? 'none' : m)), ['none', 1.5, 'none', -2, 0, -0.5]);
  assert.deepEqual(marginSummary(margins), { scored: 4, negative: 2, unscored: 2 });
});

test('only margin < 0, lowest first, unscored last; a tie at 0 is not backwards', () => {
  const index = indexOf(lines);
  const file = scoredFile(result, (l) => lines[l]);
  const margins = pairMargins(index, (l) => lines[l], file);
  const get = (l: number) => lines[l];
  const linesOf = (view: Int32Array | undefined) => [...(view ?? [])].map((i) => index.lines[i]);
  assert.deepEqual(linesOf(filterPairs(index, { onlyFlagged: false, search: '', onlyNegative: true }, get, margins)), [3, 5]);
  assert.deepEqual(linesOf(filterPairs(index, { onlyFlagged: false, search: '', sort: 'margin' }, get, margins)), [3, 5, 4, 1, 0]);
  assert.deepEqual(linesOf(filterPairs(index, { onlyFlagged: false, search: 'question 5', onlyNegative: true, sort: 'margin' }, get, margins)), [5]);
  // Unscored pairs go last, in line order.
  const partial = new Float64Array([NaN, 0.25, NaN, 0, -1]);
  assert.deepEqual([...sortByMargin([0, 1, 2, 3, 4], partial)], [4, 3, 1, 0, 2]);
  assert.deepEqual(byMargin(scores).map((s) => s.line), [3, 5, 4, 1, 0]);
});

test('without scores the score filter and order are off (a stored view filter cannot hide every pair)', () => {
  const index = indexOf(lines);
  const wanted = { onlyFlagged: false, search: '', onlyNegative: true, sort: 'margin' as const };
  assert.equal(isIdentityFilter(wanted), false);
  assert.equal(isIdentityFilter(effectiveFilter(wanted, undefined)), true);
  assert.equal(filterPairs(index, wanted, (l) => lines[l]), undefined);
});

test('the inspector source: scores on the pages, the header counts, the filter, and scores lost by an edit', async () => {
  const source = new PairsSource({}, undefined, undefined, { onlyFlagged: false, search: '', onlyNegative: true, sort: 'margin' });
  assert.equal(await source.load(lines.join('\n'), 1), true);
  assert.equal(source.resetMessage('f').total, 5, 'no scores yet: every pair, the score filter waits');
  assert.equal(source.resetMessage('f').scores, undefined);
  assert.equal(await source.setScores(scoredFile(result, (l) => lines[l])), true);
  const reset = source.resetMessage('f');
  assert.equal(reset.total, 2);
  assert.deepEqual(reset.scores, { kind: 'implicit-reward', description: result.description, scored: 5, negative: 2, unscored: 0 });
  assert.deepEqual(source.page(0, 10).pairs.map((p) => [p.line, p.score?.margin]), [[3, -2], [5, -0.5]]);
  // Swapping line 3 in the editor: its old score no longer describes it.
  const swapped = swapSides(lines[3]);
  assert.equal(source.applyChanges([{ range: { start: { line: 3, character: 0 }, end: { line: 3, character: lines[3].length } }, text: swapped }], 2, lines.length), true);
  assert.equal(await source.refresh(), true);
  assert.deepEqual(source.resetMessage('f').scores, { kind: 'implicit-reward', description: result.description, scored: 4, negative: 1, unscored: 1 });
  assert.deepEqual(source.page(0, 10).pairs.map((p) => p.line), [5]);
  await source.setFilter({ onlyFlagged: false, search: '', sort: 'margin' });
  assert.deepEqual(source.page(0, 10).pairs.map((p) => [p.line, p.score?.margin]), [[5, -0.5], [4, 0], [1, 0.25], [0, 1.5], [3, undefined]]);
  await source.setScores(undefined);
  assert.deepEqual(source.page(0, 10).pairs.map((p) => p.line), [0, 1, 3, 4, 5], 'scores cleared: line order again');
});

test('the margin histogram: round bins symmetric around 0, negatives left of it', () => {
  assert.equal(niceStep(0.3), 0.5);
  assert.equal(niceStep(0.21), 0.25);
  assert.equal(niceStep(3.3), 5);
  assert.equal(niceStep(1), 1);
  const h = marginHistogram([-3.3, -2.96, -1.78, 0, 0.39, 4.17, NaN]);
  assert.equal(h.edges.length, h.counts.length + 1);
  assert.equal(h.counts.length, 20);
  assert.equal(h.edges[10], 0, '0 is the middle edge');
  assert.equal(h.edges[0], -5);
  assert.equal(h.edges.at(-1), 5);
  assert.equal(h.negative, 3);
  assert.equal(h.counts.slice(0, 10).reduce((a, b) => a + b), 3, 'every negative margin left of 0');
  assert.equal(h.counts.reduce((a, b) => a + b), 6, 'NaN is not counted');
  const tie = marginHistogram([0, 1]);
  assert.equal(tie.counts[10], 1, 'a margin of exactly 0 is not backwards');
  assert.equal(tie.counts[19], 1, 'the largest margin falls in the last bin');
  const flat = marginHistogram([0, 0]);
  assert.equal(flat.negative, 0);
  assert.equal(flat.counts[10], 2);
  assert.ok(flat.edges.every((e) => Number.isFinite(e)));
  // Edges are written without float noise (0.1 * 3 is not 0.30000000000000004 on the axis).
  assert.ok(marginHistogram([0.95]).edges.every((e) => String(e).length < 8), String(marginHistogram([0.95]).edges));
});

test('a file that is not preference data is named before any model loads', () => {
  assert.equal(scorableDataProblem('p.jsonl', ['', pair(1)]), undefined);
  assert.equal(scorableDataProblem('p.jsonl', ['{"chosen": "Q: a", "rejected": "Q: b"}']), undefined);
  assert.match(scorableDataProblem('sft.jsonl', ['', '{"messages": [{"role": "user", "content": "hi"}]}'])!, /^sft\.jsonl is not preference data: line 2 is a messages record; scoring needs pairs/);
  assert.match(scorableDataProblem('README.md', ['# Title', 'text'])!, /^README\.md is not JSONL preference data: line 1 is not a JSON object\.$/);
  assert.match(scorableDataProblem('empty.jsonl', ['', ''])!, /^empty\.jsonl has no records/);
  const example = readFileSync('examples/preference.jsonl', 'utf8').split('\n');
  assert.equal(scorableDataProblem('preference.jsonl', example), undefined);
});
