// The samples view's store: completions by step and by prompt, resumes, replays after a reconnect.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RunSampleNotification, RunStatusNotification } from '../../../core/protocol/daemon.ts';
import { SampleStore, applySampleNotification } from '../../../webviews/samples/sampleStore.ts';
import { resubscribeFrom } from '../../../webviews/shared/resubscribe.ts';

const M = RunSampleNotification.method;
const rec = (step: number, prompt: string, completion: string) => ({ step, prompt, completion });

describe('sample store', () => {
  test('groups by step and reads back by prompt', () => {
    const store = new SampleStore();
    store.run('r1');
    for (const [s, p, c] of [[25, 'a', 'x1'], [25, 'b', 'y1'], [50, 'a', 'x2'], [50, 'b', 'y2'], [50, 'a', 'x2b']] as const) {
      assert.equal(applySampleNotification(store, M, { runId: 'r1', record: rec(s, p, c) }), 'r1');
    }
    const r = store.run('r1');
    assert.equal(store.count, 5);
    assert.deepEqual(r.prompts, ['a', 'b']);
    assert.deepEqual(r.steps.map((e) => [e.step, e.samples.length]), [[25, 2], [50, 3]]);
    assert.deepEqual(r.byPrompt('a'), [{ step: 25, completions: ['x1'] }, { step: 50, completions: ['x2', 'x2b'] }]);
    assert.deepEqual(r.byPrompt('nope'), []);
  });

  test('ignores other runs and malformed records; applies status', () => {
    const store = new SampleStore();
    store.run('r1');
    assert.equal(applySampleNotification(store, M, { runId: 'r2', record: rec(1, 'a', 'b') }), undefined);
    assert.equal(applySampleNotification(store, M, { runId: 'r1', record: { step: 1, prompt: 3 } }), 'r1');
    assert.equal(store.count, 0);
    assert.equal(applySampleNotification(store, M, 'garbage'), undefined);
    const run = { id: 'r1', status: 'completed', resumes: [] };
    assert.equal(applySampleNotification(store, RunStatusNotification.method, { run }), 'r1');
    assert.equal(store.run('r1').run?.status, 'completed');
  });

  test('a resumed run redoing steps replaces the later samples', () => {
    const store = new SampleStore();
    const r = store.run('r1');
    r.add(rec(25, 'a', 'old25'));
    r.add(rec(50, 'a', 'old50'));
    r.add(rec(25, 'a', 'new25'));
    assert.deepEqual(r.byPrompt('a'), [{ step: 25, completions: ['new25'] }]);
    assert.equal(r.count, 1);
  });

  test('a reconnect in the middle of a step loses and repeats nothing', () => {
    const all = [rec(10, 'a', '1'), rec(10, 'b', '2'), rec(20, 'a', '3'), rec(20, 'b', '4'), rec(30, 'a', '5')];
    const store = new SampleStore();
    const r = store.run('r1');
    for (const x of all.slice(0, 3)) r.add(x); // dropped after step 20's first prompt
    const from = resubscribeFrom(r.lastStep, 0, { resumes: [] });
    r.truncateFrom(from);
    for (const x of all.filter((x) => x.step >= from)) r.add(x);
    assert.equal(r.count, 5);
    assert.deepEqual(r.steps.map((e) => e.samples.map((s) => s.completion)), [['1', '2'], ['3', '4'], ['5']]);
  });
});
