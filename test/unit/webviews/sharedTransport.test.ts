// The browser transport's pure parts: reading a token from what a user pastes, and the reconnect backoff.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenFromText } from '../../../webviews/shared/browserAuth.ts';
import { reconnectDelayMs } from '../../../webviews/shared/browserChannel.ts';

describe('tokenFromText', () => {
  test('a bare token, a fragment, or a whole dashboard URL', () => {
    assert.equal(tokenFromText('  abc123 \n'), 'abc123');
    assert.equal(tokenFromText('#token=abc123'), 'abc123');
    assert.equal(tokenFromText('token=abc123'), 'abc123');
    assert.equal(tokenFromText('http://127.0.0.1:7777/#token=abc123'), 'abc123');
    assert.equal(tokenFromText('http://127.0.0.1:7777/samples?run=x#token=abc123&other=1'), 'abc123');
  });

  test('nothing usable gives undefined', () => {
    assert.equal(tokenFromText(''), undefined);
    assert.equal(tokenFromText('   '), undefined);
    assert.equal(tokenFromText('#'), undefined);
    assert.equal(tokenFromText('http://127.0.0.1:7777/#other=1'), undefined);
  });
});

describe('reconnectDelayMs', () => {
  test('doubles from half a second and stops at eight', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map(reconnectDelayMs), [500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});
