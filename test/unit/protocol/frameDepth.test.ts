// The nesting guard of decodeFrame: a scan of the text, so a message nested 100,000 deep is refused
// with its id (the client gets an answer) and brackets inside strings do not count.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, MAX_NESTING_DEPTH, nestsDeeperThan } from '../../../core/protocol/frames.ts';

test('depth is counted outside strings only, escapes included', () => {
  assert.equal(nestsDeeperThan('[[[1]]]', 3), false);
  assert.equal(nestsDeeperThan('[[[[1]]]]', 3), true);
  assert.equal(nestsDeeperThan(JSON.stringify({ a: '[[[[[[[[{{{{{{{', b: 'quote \\" [[[[[' }), 2), false);
  assert.equal(nestsDeeperThan('{"a":[1,2],"b":{"c":[3]}}', 3), false);
});

test('a request nested 100,000 deep gets InvalidParams with its id; one at the limit passes', () => {
  const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
  const refused = decodeFrame(`{"jsonrpc":"2.0","id":7,"method":"runs/start","params":${deep}}`);
  assert.equal(refused.ok, false);
  if (!refused.ok) {
    assert.equal(refused.error.id, 7);
    assert.equal(refused.error.error?.code, -32602);
    assert.match(refused.error.error!.message, /deeper than 64 levels/);
  }
  const atLimit = '['.repeat(MAX_NESTING_DEPTH - 1) + ']'.repeat(MAX_NESTING_DEPTH - 1);
  assert.equal(decodeFrame(`{"jsonrpc":"2.0","id":1,"method":"x","params":${atLimit}}`).ok, true);
});
