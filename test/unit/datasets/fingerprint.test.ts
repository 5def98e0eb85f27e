// Fingerprints are pinned: exact-duplicate keys, MinHash signatures and LSH band keys decide which
// records are reported as duplicates and near duplicates, so a faster hashing loop must give the
// same numbers. The expected values were computed by the loop before its rewrite for speed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bandKey, Fingerprinter, LSH_BANDS, MINHASH_BINS } from '../../../core/datasets/fingerprint.ts';

const EMPTY_BIN = 0xffffffff;

/** Content pieces (text, separator, in the MinHash) and what they hash to; bins lists the non-empty [bin, value]s. */
const PINNED: { pieces: [string, number, boolean][]; key: number; check: number; bins: [number, number][] | null; bands: number[] | null }[] = [
  { pieces: [["What is the capital of France?", 118, true], ["The capital of France is Paris.", 98, true]], key: 313855956, check: 1806386923, bins: [[1, 210974223], [4, 622652404], [6, 808266072], [9, 1255903303], [22, 3074501632], [25, 3459346319]], bands: [698174765, 964890454, 177427592, 501022965, 460509077] },
  { pieces: [["You are a helpful assistant.", 116, false], ["  spaced\tout\r\nwords  here  ", 118, true], ["answer with more than three words", 98, true]], key: 248666731, check: -903411914, bins: [[0, 125214588], [15, 2082058732], [21, 2853139735], [28, 3883514666]], bands: [75757865, 742385343, 461552161, 306706268, 460509077] },
  { pieces: [["日本語のテキストと English words 混在", 118, true], ["한국어 문장 also here", 98, true]], key: 970675113, check: -1788181203, bins: [[2, 356221892], [3, 421118890], [4, 662162432], [5, 799349307], [9, 1228787642], [17, 2373346629], [19, 2611856731], [22, 2994537852], [29, 3991022689]], bands: [1029853396, 896668244, 260407517, 501022965, 561010919] },
  { pieces: [["", 1, true], ["single", 200, true], ["x", 400, true]], key: 1033699563, check: -333612493, bins: null, bands: null },
];

test('fingerprints of known content stay the same', () => {
  for (const { pieces, key, check, bins, bands } of PINNED) {
    const fp = new Fingerprinter(true);
    for (const [text, separator, sketch] of pieces) fp.update(text, separator, sketch);
    assert.equal(fp.key, key, JSON.stringify(pieces));
    assert.equal(fp.check, check, JSON.stringify(pieces));
    const signature = fp.signature();
    if (!bins) {
      assert.equal(signature, undefined);
      continue;
    }
    assert.ok(signature);
    const expected = new Array<number>(MINHASH_BINS).fill(EMPTY_BIN);
    for (const [bin, value] of bins) expected[bin] = value;
    assert.deepEqual(Array.from(signature), expected);
    assert.deepEqual(Array.from({ length: LSH_BANDS }, (_, b) => bandKey(signature, b)), bands);
  }
});

test('whitespace runs collapse and a CJK letter is a word of its own', () => {
  const hash = (...pieces: string[]) => {
    const fp = new Fingerprinter(false);
    for (const p of pieces) fp.update(p, 1);
    return [fp.key, fp.check];
  };
  assert.deepEqual(hash('a  b\t\tc\r\n'), hash(' a b c'));
  assert.deepEqual(hash('中文ab'), hash('中 文 ab'));
  assert.notDeepEqual(hash('ab', 'c'), hash('a', 'bc'));
});
