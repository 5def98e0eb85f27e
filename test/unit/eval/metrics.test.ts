// The evaluation's pure measures on hand-computed examples: distinct-n over token ids, and the win rate
// of pairwise verdicts judged in both orders (a split verdict is a tie, half a win).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distinctN } from '../../../core/eval/diversity.ts';
import { pairOutcome, scoreVerdict, winRate } from '../../../core/eval/winRate.ts';

test('distinct-n: unique n-grams over all of them, across the whole set', () => {
  // Unigrams 1 2 1 | 3: 4 in all, 3 unique. Bigrams (1,2) (2,1): 2 unique of 2.
  assert.equal(distinctN([[1, 2, 1], [3]], 1), 0.75);
  assert.equal(distinctN([[1, 2, 1], [3]], 2), 1);
  // The same answer twice: half the bigrams repeat.
  assert.equal(distinctN([[5, 6, 7], [5, 6, 7]], 2), 0.5);
  assert.equal(distinctN([[1], []], 2), undefined);
});

test('win rate: both orders must favour the model for a win; a split is a tie', () => {
  assert.equal(pairOutcome('first', 'second'), 'win');
  assert.equal(pairOutcome('second', 'first'), 'loss');
  assert.equal(pairOutcome('first', 'first'), 'tie', 'a judge that always prefers the first answer decides nothing');
  assert.equal(pairOutcome('first', 'tie'), 'win');
  assert.equal(pairOutcome('tie', 'tie'), 'tie');
  assert.equal(winRate(['win', 'win', 'loss', 'tie']), 0.625);
  assert.equal(winRate([]), undefined);
  assert.equal(scoreVerdict(0.3, -1), 'first');
  assert.equal(scoreVerdict(2, 2), 'tie');
});
