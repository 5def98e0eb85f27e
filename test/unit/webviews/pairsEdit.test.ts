import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deleteLineRange, editableSideText, jsonStringLike, PairEditError, setSide, swapSides } from '../../../core/pairs/pairEdit.ts';

test('swap exchanges the two values and keeps key order, other fields and spacing byte for byte', () => {
  const line = '{"id": 7, "prompt": "Q?", "chosen": "good", "rejected": "bad answer", "score": 1.0, "meta": {"src": "x"}}';
  const swapped = swapSides(line);
  assert.equal(swapped, '{"id": 7, "prompt": "Q?", "chosen": "bad answer", "rejected": "good", "score": 1.0, "meta": {"src": "x"}}');
  assert.deepEqual(Object.keys(JSON.parse(swapped)), ['id', 'prompt', 'chosen', 'rejected', 'score', 'meta']);
  // Swapping twice restores the line exactly.
  assert.equal(swapSides(swapped), line);
});

test('swap keeps compact style, rejected-before-chosen order and conversational values', () => {
  const line = '{"rejected":[{"role":"assistant","content":"no"}],"chosen":[{"role":"assistant","content":"yes \\u00e9"}],"prompt":[{"role":"user","content":"hi"}]}';
  const swapped = swapSides(line);
  assert.equal(swapped, '{"rejected":[{"role":"assistant","content":"yes \\u00e9"}],"chosen":[{"role":"assistant","content":"no"}],"prompt":[{"role":"user","content":"hi"}]}');
});

test('swap keeps a BOM and refuses lines that are not pairs', () => {
  assert.equal(swapSides('\ufeff{"chosen":"a","rejected":"b"}'), '\ufeff{"chosen":"b","rejected":"a"}');
  assert.throws(() => swapSides('{"chosen":"a"'), PairEditError);
  assert.throws(() => swapSides('{"chosen":"a"}'), /no "rejected" field/);
  assert.throws(() => swapSides('[1,2]'), PairEditError);
});

test('setSide replaces an explicit string side and nothing else', () => {
  const line = '{"prompt": "Q", "chosen": "old", "rejected": "r", "n": 10}';
  assert.equal(setSide(line, 'chosen', 'new "quoted"\nline'), '{"prompt": "Q", "chosen": "new \\"quoted\\"\\nline", "rejected": "r", "n": 10}');
  assert.equal(setSide(line, 'rejected', ''), '{"prompt": "Q", "chosen": "old", "rejected": "", "n": 10}');
});

test('setSide on an implicit string pair keeps the shared prompt in front', () => {
  const line = '{"chosen": "Q: colour of sky? A: blue", "rejected": "Q: colour of sky? A: green"}';
  // The separating space stays with the continuation (as core/datasets splits implicit pairs).
  assert.equal(editableSideText(line, 'chosen'), ' blue');
  assert.equal(editableSideText(line, 'rejected'), ' green');
  const edited = setSide(line, 'rejected', ' red');
  assert.deepEqual(JSON.parse(edited), { chosen: 'Q: colour of sky? A: blue', rejected: 'Q: colour of sky? A: red' });
});

test('setSide on a conversational side rewrites the last assistant message content', () => {
  const line =
    '{"chosen":[{"role":"user","content":"hi"},{"role":"assistant","content":"first"},{"role":"user","content":"more"},{"role":"assistant","content":"last","name":"bot"}],"rejected":[{"role":"user","content":"hi"},{"role":"assistant","content":"meh"}]}';
  assert.equal(editableSideText(line, 'chosen'), 'last');
  const edited = JSON.parse(setSide(line, 'chosen', 'better'));
  assert.equal(edited.chosen[3].content, 'better');
  assert.equal(edited.chosen[3].name, 'bot');
  assert.equal(edited.chosen[1].content, 'first');
  assert.equal(edited.rejected[1].content, 'meh');
});

test('setSide edits a single text part and refuses sides without plain assistant text', () => {
  const parts = '{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":[{"type":"text","text":"a"}]}],"rejected":[{"role":"assistant","content":"b"}]}';
  assert.equal(JSON.parse(setSide(parts, 'chosen', 'z')).chosen[0].content[0].text, 'z');
  const noAssistant = '{"prompt":"q","chosen":[{"role":"user","content":"x"}],"rejected":"b"}';
  assert.throws(() => setSide(noAssistant, 'chosen', 'y'), /no assistant message/);
  const twoParts = '{"prompt":"q","chosen":[{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"rejected":"b"}';
  assert.throws(() => setSide(twoParts, 'chosen', 'y'), /no plain text content/);
});

test('new text follows the line\'s ensure_ascii escaping', () => {
  const ascii = '{"prompt": "caf\\u00e9", "chosen": "a", "rejected": "b"}';
  assert.equal(jsonStringLike(ascii, 'thé'), '"th\\u00e9"');
  assert.equal(JSON.parse(setSide(ascii, 'chosen', 'thé')).chosen, 'thé');
  assert.equal(jsonStringLike('{"prompt": "café"}', 'thé'), '"thé"');
});

test('deleteLineRange removes the line with its break and never leaves a blank line', () => {
  const lengths = [10, 20, 30];
  const len = (l: number) => lengths[l];
  assert.deepEqual(deleteLineRange(0, 3, len), { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } });
  assert.deepEqual(deleteLineRange(2, 3, len), { start: { line: 1, character: 20 }, end: { line: 2, character: 30 } });
  assert.deepEqual(deleteLineRange(0, 1, len), { start: { line: 0, character: 0 }, end: { line: 0, character: 10 } });
});
