// `pairs/score` params as the daemon checks them before anything runs: the typed params back, or one
// sentence naming the wrong field; and the score child's IPC messages recognised by type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protocol from '../../../core/protocol/daemon.ts';
import { checkScorePairsParams, isAbsolutePath } from '../../../core/protocol/scorePairs.ts';
import { isScorerMessage, isWorkerMessage } from '../../../core/protocol/worker.ts';

test('valid params come back typed, unknown fields dropped', () => {
  const ok = checkScorePairsParams({ data: '/d/pairs.jsonl', model: 'dpo-20261129-190810-9442', beta: 0.2, maxLength: 512, progressToken: 't', extra: 1 });
  assert.deepEqual(ok, { ok: true, params: { data: '/d/pairs.jsonl', model: 'dpo-20261129-190810-9442', beta: 0.2, maxLength: 512, progressToken: 't' } });
  assert.deepEqual(checkScorePairsParams({ data: '/d/p.jsonl', model: '/runs/x/output' }), { ok: true, params: { data: '/d/p.jsonl', model: '/runs/x/output' } });
  assert.equal(checkScorePairsParams({ data: 'C:\\data\\p.jsonl', model: 'C:\\models\\rm' }).ok, true, 'Windows paths are absolute too');
});

test('each wrong field gets its own sentence', () => {
  const cases: [unknown, RegExp][] = [
    [null, /expected an object/],
    [[1], /expected an object/],
    [{ model: 'r' }, /data must be the absolute path of a preference file/],
    [{ data: 'pairs.jsonl', model: 'r' }, /data must be an absolute path, got "pairs\.jsonl"/],
    [{ data: '/p.jsonl' }, /model must be a run id or the absolute path/],
    [{ data: '/p.jsonl', model: './out' }, /model must be a run id .* or an absolute folder, got "\.\/out"/],
    [{ data: '/p.jsonl', model: 'r', beta: 0 }, /beta must be a positive number/],
    [{ data: '/p.jsonl', model: 'r', beta: '0.1' }, /beta must be a positive number/],
    [{ data: '/p.jsonl', model: 'r', maxLength: 1.5 }, /maxLength must be an integer of at least 2/],
    [{ data: '/p.jsonl', model: 'r', progressToken: 3 }, /progressToken must be a string/],
  ];
  for (const [params, message] of cases) {
    const r = checkScorePairsParams(params);
    assert.equal(r.ok, false, JSON.stringify(params));
    if (!r.ok) {
      assert.match(r.message, /^Invalid params: /);
      assert.match(r.message, message);
    }
  }
  assert.equal(isAbsolutePath('/a'), true);
  assert.equal(isAbsolutePath('a/b'), false);
});

test('pairs/score and its progress notification are declared with their literals', () => {
  assert.equal(protocol.ScorePairs.method, 'pairs/score');
  assert.equal(protocol.ScorePairs.type.method, 'pairs/score');
  assert.equal(protocol.ScorePairsProgressNotification.type.method, 'pairs/scoreProgress');
});

test('score child messages are told apart from a run worker\'s', () => {
  assert.equal(isScorerMessage({ type: 'score-progress', done: 4, total: 24 }), true);
  assert.equal(isScorerMessage({ type: 'score-result', result: {} }), true);
  assert.equal(isScorerMessage({ type: 'ready', pid: 1 }), false);
  assert.equal(isWorkerMessage({ type: 'score-ready', pid: 1 }), false);
  assert.equal(isScorerMessage(null), false);
});
