import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDataset, type DatasetModel } from '../../../core/datasets/index.ts';
import { indexSteps, pairIndexFromModel, pairPosition, type PairIndex } from '../../../core/pairs/pairIndex.ts';
import { filterPairs, filterSteps, filteredCount, nextFlagged, pairAt, pairMatchesSearch, rawLineMayMatch } from '../../../core/pairs/pairFilter.ts';
import { fileHints, pairViewOf } from '../../../core/pairs/pairView.ts';
import { swapSides } from '../../../core/pairs/pairEdit.ts';

function build(lines: string[], chunk?: number): { index: PairIndex; steps: number; model: DatasetModel } {
  const gen = indexSteps(lines, {}, chunk);
  let steps = 0;
  for (;;) {
    const s = gen.next();
    if (s.done) return { ...s.value, steps };
    steps++;
    assert.ok(s.value.done <= s.value.total);
  }
}

const explicit = (i: number, chosen = `good answer ${i}`, rejected = `bad ${i}`) => JSON.stringify({ prompt: `question ${i}`, chosen, rejected });

test('index lists explicit and implicit, string and conversational pairs and skips other lines', () => {
  const lines = [
    explicit(0),
    '{"chosen": "Q: x? A: yes", "rejected": "Q: x? A: no"}',
    JSON.stringify({ prompt: [{ role: 'user', content: 'hi' }], chosen: [{ role: 'assistant', content: 'hello' }], rejected: [{ role: 'assistant', content: 'go away' }] }),
    JSON.stringify({
      chosen: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a1' }],
      rejected: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a2' }],
    }),
    '{"prompt": "broken", "chosen": ',
    '',
    explicit(6),
    '',
  ];
  const { index } = build(lines, 3);
  assert.deepEqual([...index.lines], [0, 1, 2, 3, 6]);
  assert.equal(pairPosition(index, 6), 4);
  assert.equal(pairPosition(index, 4), -1);

  const implicitConv = pairViewOf(lines[3], 3, []);
  assert.equal(implicitConv?.format, 'preference-implicit');
  assert.deepEqual(implicitConv?.prompt, [{ role: 'user', content: 'q' }]);
  assert.deepEqual(implicitConv?.chosen, [{ role: 'assistant', content: 'a1' }]);
  const implicitStr = pairViewOf(lines[1], 1, []);
  assert.equal(implicitStr?.prompt, 'Q: x? A:');
  assert.equal(implicitStr?.chosen, ' yes');
  assert.equal(implicitStr?.chosenChars, 4);
  const conv = pairViewOf(lines[2], 2, [], (r) => ({ chosen: JSON.stringify(r.chosen).length, rejected: 1 }));
  assert.equal(conv?.format, 'preference-explicit');
  assert.equal(conv?.chosenChars, 'hello'.length);
  assert.equal(conv?.rejectedChars, 'go away'.length);
  assert.equal(conv?.chosenTokens, JSON.stringify([{ role: 'assistant', content: 'hello' }]).length);
  assert.equal(pairViewOf(lines[4], 4, []), undefined);
  assert.equal(pairViewOf('{"text": "x"}', 0, []), undefined);
});

test('flags on a pair are exactly the checker\'s diagnostics on its line; file findings go to the header', () => {
  const lines: string[] = [];
  // 12 pairs, chosen always longer (length bias), one identical pair, one duplicate.
  for (let i = 0; i < 12; i++) lines.push(explicit(i, `Sure, a long and careful answer number ${i}`, `no ${i}`));
  lines.push(JSON.stringify({ prompt: 'same?', chosen: 'same', rejected: 'same' }));
  lines.push(lines[0]);
  const { index } = build(lines);
  const report = checkDataset(lines.join('\n'), { maxDiagnostics: Infinity });
  const expectedLines = new Set(report.diagnostics.filter((d) => !['length-bias', 'polite-prefix-bias', 'low-prompt-diversity'].includes(d.code)).map((d) => d.range.start.line));
  assert.deepEqual(new Set(index.flagsByLine.keys()), expectedLines);
  assert.deepEqual(index.flagsByLine.get(12)?.map((f) => f.code), ['identical-pair']);
  assert.deepEqual(index.flagsByLine.get(13)?.map((f) => f.code), ['duplicate-record']);
  assert.equal(index.flaggedCount, expectedLines.size);
  const codes = index.fileFlags.map((f) => f.code).sort();
  assert.deepEqual(codes, ['length-bias', 'polite-prefix-bias']);
  // Hints explain the file-level findings on each pair.
  const view = pairViewOf(lines[0], 0, [])!;
  assert.deepEqual(fileHints(view, index.fileFlags).map((h) => [h.code, h.severity]), [['length-bias', 'hint'], ['polite-prefix-bias', 'hint']]);
});

test('the index follows incremental edits of the model (swap, delete)', () => {
  const lines = [explicit(0), JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'x' }), explicit(2)];
  const { model, index } = build(lines);
  assert.deepEqual([...index.lines], [0, 1, 2]);
  assert.equal(index.flagsByLine.get(1)?.[0].code, 'identical-pair');
  model.applyEdit(1, 2, [JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'y' })]);
  assert.equal(pairIndexFromModel(model).flaggedCount, 0);
  model.applyEdit(0, 1, []);
  assert.deepEqual([...pairIndexFromModel(model).lines], [0, 1]);
  model.applyEdit(0, 1, [swapSides(lines[2])]);
  assert.deepEqual([...pairIndexFromModel(model).lines], [0, 1]);
});

test('filters: only flagged, search over prompt and sides, both; positions map to pairs', () => {
  const lines = [explicit(0), explicit(1, 'Paris is the capital', 'Lyon'), JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'x' }), explicit(3, 'a "quoted" reply', 'b'), JSON.stringify({ prompt: 'Café?', chosen: 'Oui', rejected: 'Non' }).replace('é', '\\u00e9')];
  const { index } = build(lines);
  const get = (l: number) => lines[l];
  assert.equal(filterPairs(index, { onlyFlagged: false, search: '' }, get), undefined);
  const flagged = filterPairs(index, { onlyFlagged: true, search: '' }, get);
  assert.deepEqual([...flagged!], [2]);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: 'PARIS' }, get)!], [1]);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: 'lyon' }, get)!], [1]);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: 'question 3' }, get)!], [3]);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: '"quoted"' }, get)!], [3]);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: 'café' }, get)!], [4]);
  // Keys are not content: "chosen" appears in every raw line but in no text.
  assert.deepEqual([...filterPairs(index, { onlyFlagged: false, search: 'chosen' }, get)!], []);
  assert.deepEqual([...filterPairs(index, { onlyFlagged: true, search: 'paris' }, get)!], []);
  const view = filterPairs(index, { onlyFlagged: false, search: 'a' }, get);
  assert.equal(filteredCount(index, view), view!.length);
  assert.equal(pairAt(index, view, 0), view![0]);
  assert.equal(pairAt(index, view, 99), undefined);
  assert.equal(pairAt(index, undefined, 2), 2);
});

test('filterSteps yields progress on large indexes and gives the same answer', () => {
  const lines = Array.from({ length: 120 }, (_, i) => explicit(i));
  const { index } = build(lines);
  const gen = filterSteps(index, { onlyFlagged: false, search: 'question 1' }, (l) => lines[l], 25);
  let yields = 0;
  let result;
  for (;;) {
    const s = gen.next();
    if (s.done) {
      result = s.value;
      break;
    }
    yields++;
  }
  assert.equal(yields, 4);
  assert.deepEqual([...result!], [1, ...Array.from({ length: 10 }, (_, i) => 10 + i), ...Array.from({ length: 20 }, (_, i) => 100 + i)]);
});

test('raw-line prefilter is only trusted when it cannot miss', () => {
  assert.equal(rawLineMayMatch('{"a":"hello"}', 'world'), false);
  assert.equal(rawLineMayMatch('{"a":"h\\u00e9llo"}', 'world'), true);
  assert.equal(rawLineMayMatch('{"a":"x"}', 'a/b'), true);
  assert.equal(pairMatchesSearch('{"prompt":"a/b","chosen":"c","rejected":"d"}'.replace('/', '\\/'), 'a/b'), true);
  assert.equal(pairMatchesSearch('{"prompt":"x","chosen":"c","rejected":"d"}', ''), true);
});

test('nextFlagged walks the filtered view both ways', () => {
  const lines = [explicit(0), JSON.stringify({ prompt: 'p', chosen: 'x', rejected: 'x' }), explicit(2), JSON.stringify({ prompt: 'q', chosen: 'y', rejected: 'y' })];
  const { index } = build(lines);
  assert.equal(nextFlagged(index, undefined, -1, 1), 1);
  assert.equal(nextFlagged(index, undefined, 1, 1), 3);
  assert.equal(nextFlagged(index, undefined, 3, 1), -1);
  assert.equal(nextFlagged(index, undefined, 3, -1), 1);
  assert.equal(nextFlagged(index, Int32Array.from([0, 2, 3]), 0, 1), 2);
});
