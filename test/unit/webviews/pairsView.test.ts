// The pair inspector's browser-side logic, run in Node: word diff segments, virtual-list window
// math, the page cache and the keyboard map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedShare, diffSides, MAX_DIFF_CHARS } from '../../../webviews/pairs/wordDiff.ts';
import { MAX_SCROLL_PX, rowsPerPage, scrollTopToShow, spacerHeight, visibleRows } from '../../../webviews/pairs/virtualWindow.ts';
import { PageCache } from '../../../webviews/pairs/pageCache.ts';
import { keyAction } from '../../../webviews/pairs/keys.ts';

const join = (segs: { text: string }[]) => segs.map((s) => s.text).join('');

test('word diff: each side reassembles exactly; only differing words are marked', () => {
  const chosen = 'The capital of France is Paris.';
  const rejected = 'The capital of France is Lyon, I think.';
  const d = diffSides(chosen, rejected);
  assert.equal(d.diffed, true);
  assert.equal(join(d.chosen), chosen);
  assert.equal(join(d.rejected), rejected);
  assert.deepEqual(d.chosen.filter((s) => s.changed).map((s) => s.text.trim()), ['Paris']);
  assert.ok(d.rejected.filter((s) => s.changed).map((s) => s.text).join('').includes('Lyon'));
  // Shared text is identical on both sides and never marked.
  assert.equal(d.chosen[0].text, d.rejected[0].text);
  assert.equal(d.chosen[0].changed, false);
  // Adjacent segments of the same kind are merged.
  for (const side of [d.chosen, d.rejected]) for (let i = 1; i < side.length; i++) assert.notEqual(side[i].changed, side[i - 1].changed);
});

test('word diff: identical sides have no changes; whitespace changes count; empty sides work', () => {
  const same = diffSides('a b c', 'a b c');
  assert.deepEqual(same.chosen, [{ text: 'a b c', changed: false }]);
  assert.equal(changedShare(same.chosen), 0);
  const spaces = diffSides('a  b', 'a b');
  assert.ok(spaces.chosen.some((s) => s.changed));
  const empty = diffSides('', 'only rejected');
  assert.deepEqual(empty.chosen, []);
  assert.deepEqual(empty.rejected, [{ text: 'only rejected', changed: true }]);
  assert.equal(changedShare(empty.rejected), 1);
});

test('word diff: very long sides are shown without a diff', () => {
  const long = 'word '.repeat(MAX_DIFF_CHARS / 5);
  const d = diffSides(long, 'x');
  assert.equal(d.diffed, false);
  assert.equal(join(d.chosen), long);
  assert.equal(d.chosen.every((s) => !s.changed), true);
});

test('window math: rows for a scroll position, with overscan and clamping', () => {
  const v = { scrollTop: 0, height: 500, rowHeight: 100, total: 1000 };
  assert.deepEqual(visibleRows(v, 2), { first: 0, end: 7, top: 0 });
  assert.deepEqual(visibleRows({ ...v, scrollTop: 1050 }, 2), { first: 8, end: 18, top: 800 });
  assert.deepEqual(visibleRows({ ...v, scrollTop: 99_600 }, 2), { first: 994, end: 1000, top: 99_400 });
  assert.deepEqual(visibleRows({ ...v, total: 0 }), { first: 0, end: 0, top: 0 });
  assert.deepEqual(visibleRows({ ...v, total: 3 }, 0), { first: 0, end: 3, top: 0 });
  assert.equal(spacerHeight(1000, 100), 100_000);
  assert.equal(rowsPerPage(v), 5);
});

test('window math: scroll to show a row moves as little as possible', () => {
  const v = { scrollTop: 1000, height: 500, rowHeight: 100, total: 1000 };
  assert.equal(scrollTopToShow(v, 12), 1000); // already visible
  assert.equal(scrollTopToShow(v, 5), 500); // above: align top
  assert.equal(scrollTopToShow(v, 20), 1600); // below: align bottom
  assert.equal(scrollTopToShow({ ...v, height: 50 }, 20), 2000); // taller than the viewport: align top
});

test('window math: lists taller than the spacer cap scale the scrollbar and still reach every row', () => {
  const total = 200_000;
  const rowHeight = 240;
  const height = 800;
  assert.equal(spacerHeight(total, rowHeight), MAX_SCROLL_PX);
  const bottom = MAX_SCROLL_PX - height;
  const last = visibleRows({ scrollTop: bottom, height, rowHeight, total }, 0);
  assert.equal(last.end, total);
  // The last row's bottom lines up with the viewport's bottom.
  assert.equal(Math.round(last.top + (total - last.first) * rowHeight), MAX_SCROLL_PX);
  const middle = visibleRows({ scrollTop: bottom / 2, height, rowHeight, total }, 0);
  assert.ok(Math.abs(middle.first - (total - height / rowHeight) / 2) < 2);
  // Rows are placed inside the viewport.
  assert.ok(middle.top <= bottom / 2 && middle.top + rowHeight > bottom / 2);
  // Scrolling to a row and reading the window back shows that row.
  const to = scrollTopToShow({ scrollTop: 0, height, rowHeight, total }, 123_456);
  const shown = visibleRows({ scrollTop: to, height, rowHeight, total }, 0);
  assert.ok(shown.first <= 123_456 && 123_456 < shown.end);
});

test('page cache: asks once per missing page, evicts least recently used pages', () => {
  const cache = new PageCache<number>(10, 3);
  assert.deepEqual(cache.missing(5, 25), [0, 1, 2]);
  assert.deepEqual(cache.request(1), { start: 10, count: 10 });
  assert.deepEqual(cache.missing(5, 25), [0, 2]);
  cache.put(10, Array.from({ length: 10 }, (_, i) => 10 + i));
  assert.equal(cache.get(13), 13);
  assert.equal(cache.get(3), undefined);
  cache.put(0, [0]);
  cache.put(20, [20]);
  cache.get(10); // page 1 is now the most recent
  cache.put(30, [30]); // evicts page 0
  assert.equal(cache.get(0), undefined);
  assert.equal(cache.get(10), 10);
  assert.deepEqual(cache.missing(0, 1), [0]);
  cache.clear();
  assert.deepEqual(cache.missing(10, 11), [1]);
  assert.deepEqual(cache.missing(4, 4), []);
});

test('keys: j/k and arrows move, n/N jump between flagged, nothing fires while typing', () => {
  const k = (key: string, extra: object = {}) => keyAction({ key, inEditable: false, ...extra });
  assert.equal(k('j'), 'next');
  assert.equal(k('ArrowDown'), 'next');
  assert.equal(k('k'), 'previous');
  assert.equal(k('ArrowUp'), 'previous');
  assert.equal(k('n'), 'nextFlagged');
  assert.equal(k('N', { shiftKey: true }), 'previousFlagged');
  assert.equal(k('s'), 'swap');
  assert.equal(k('/'), 'search');
  assert.equal(keyAction({ key: 'j', inEditable: true }), undefined);
  assert.equal(k('j', { ctrlKey: true }), undefined);
  assert.equal(k('x'), undefined);
});

test('word diff: sides that share almost nothing are shown without highlights', () => {
  const d = diffSides('Describe the code rather than the person, and explain why it helps.', 'Just tell them it is wrong.');
  assert.equal(d.diffed, false);
  assert.equal(d.skipped, 'different');
  assert.equal(join(d.chosen), 'Describe the code rather than the person, and explain why it helps.');
});
