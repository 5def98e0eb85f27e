import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, DEFAULT_BACKOFF } from '../../../extension/client/daemon/backoff.ts';

const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };

test('delays double from the base and stop growing at the cap', () => {
  const delays = Array.from({ length: 8 }, (_, i) => backoffDelay(i, noJitter));
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  // Very many attempts neither overflow nor exceed the cap.
  assert.equal(backoffDelay(10_000, noJitter), 10_000);
  assert.equal(backoffDelay(-3, noJitter), 500);
});

test('jitter stays within its fraction either side', () => {
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => 0), 1600);
  assert.equal(backoffDelay(2, DEFAULT_BACKOFF, () => 0.5), 2000);
  assert.ok(backoffDelay(2, DEFAULT_BACKOFF, () => 0.999999) <= 2400);
  assert.equal(backoffDelay(9, DEFAULT_BACKOFF, () => 0), 8000);
});
