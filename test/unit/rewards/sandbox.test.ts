// The sandbox for user-written GRPO reward modules (daemon/engine/rewards): TRL's contract in a
// worker thread with a heap limit and a per-call timeout. Each fixture in test/fixtures/rewards is one
// thing a user's module can do or get wrong; every failure is one sentence naming the file, and none
// takes this process (or its event loop) down.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkRewards, RewardError } from '../../../daemon/engine/rewards/rewardCheck.ts';
import { UserReward, type UserRewardOptions } from '../../../daemon/engine/rewards/userReward.ts';

const DIR = resolve('test/fixtures/rewards');
const fixture = (name: string): string => join(DIR, name);

const opened: UserReward[] = [];
after(async () => { await Promise.all(opened.map((r) => r.close())); });

async function load(name: string, options: UserRewardOptions = {}): Promise<UserReward> {
  const reward = await UserReward.load(fixture(name), options);
  opened.push(reward);
  return reward;
}

/** The RewardError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<RewardError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof RewardError, `expected a RewardError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

/** One sentence: ends with a full stop and has no other line. */
function assertOneSentence(message: string): void {
  assert.ok(!message.includes('\n'), `one line: ${message}`);
  assert.match(message, /[.]$/);
}

describe('user reward modules that work', () => {
  test('a sync .js module with `export default` (no "type": "module" needed)', async () => {
    const reward = await load('length.js');
    assert.equal(reward.name, 'lengthReward');
    assert.deepEqual(await reward.call({ prompts: ['p', 'p'], completions: ['abcde', 'abcdefghij'] }), [0.5, 1]);
  });

  test('a CommonJS module (`module.exports = function`)', async () => {
    const reward = await load('commonjs.cjs');
    assert.deepEqual(await reward.call({ prompts: ['p'], completions: ['x'] }), [0.5]);
  });

  test('an async TypeScript module with conversational completions', async () => {
    const reward = await load('asyncFormat.ts');
    assert.equal(reward.name, 'formatReward');
    const completions = [
      [{ role: 'assistant', content: '<think>2+2</think> <answer>4</answer>' }],
      [{ role: 'assistant', content: 'just 4' }],
    ];
    assert.deepEqual(await reward.call({ prompts: ['q', 'q'], completions }), [1, 0]);
  });

  test('dataset columns, trainer_state, a relative import, null scores and log_metric', async () => {
    const reward = await load('correctness.ts');
    const out = await reward.run({
      prompts: ['a', 'a', 'b'],
      completions: ['<answer>4</answer>', '<answer>5</answer>', 'no tags'],
      completion_ids: [[1], [2], [3]],
      answer: ['4', '4', '9'],
      trainer_state: { global_step: 7 },
    });
    assert.deepEqual(out.rewards, [1, 0, null]);
    assert.deepEqual(out.metrics, { step_seen: 7 });
  });

  test('NaN becomes null and booleans count as 1/0, as TRL tensors them', async () => {
    const reward = await load('nanAndBool.js');
    assert.deepEqual(await reward.call({ prompts: [1, 2, 3, 4], completions: ['a', 'b', 'c', 'd'] }), [null, 1, null, 0]);
  });

  test('console output goes to onOutput, line by line, not to this process stdout', async () => {
    const lines: string[] = [];
    let done: () => void;
    const both = new Promise<void>((r) => { done = r; });
    const reward = await load('chatty.js', {
      onOutput: (line, stream) => { lines.push(`${stream}: ${line}`); if (lines.length === 2) done(); },
    });
    assert.deepEqual(await reward.call({ prompts: ['p', 'p'], completions: ['a', 'b'] }), [0, 0]);
    await both;
    assert.deepEqual(lines.sort(), ['stderr: a warning', 'stdout: scoring 2']);
  });
});

describe('user reward modules that fail at load', () => {
  test('a syntax error names the file and the line', async () => {
    const err = await failure(UserReward.load(fixture('syntaxError.ts')));
    assert.equal(err.kind, 'load');
    assert.match(err.message, /syntaxError\.ts has a syntax error at line 3, column \d+: Expression expected\.$/);
    assert.ok(err.message.includes(fixture('syntaxError.ts')));
    assertOneSentence(err.message);
  });

  test('no default export says what the module does export and how to fix it', async () => {
    const err = await failure(UserReward.load(fixture('namedOnly.ts')));
    assert.equal(err.kind, 'load');
    assert.match(err.message, /namedOnly\.ts has no default export function \(it exports reward\); add `export default function reward/);
    assertOneSentence(err.message);
  });

  test('a top-level throw names the line in the source', async () => {
    const err = await failure(UserReward.load(fixture('loadThrows.js')));
    assert.match(err.message, /loadThrows\.js failed to load at line 2: table b is missing\.$/);
    assertOneSentence(err.message);
  });

  test('top-level code that never ends is stopped at the timeout', async () => {
    const err = await failure(UserReward.load(fixture('loadHangs.js'), { timeoutMs: 300 }));
    assert.equal(err.kind, 'load');
    assert.equal(err.message, `Reward module ${fixture('loadHangs.js')} did not finish loading within 0.3 s and was stopped; check its top-level code for a loop that never ends.`);
  });

  test('a missing file and a wrong extension', async () => {
    assert.match((await failure(UserReward.load(fixture('nope.ts')))).message, /nope\.ts does not exist\.$/);
    assert.match((await failure(UserReward.load(fixture('README.md')))).message, /README\.md is not a JavaScript or TypeScript file/);
  });
});

describe('user reward calls that fail', () => {
  test('a throw fails the call with its message; the next call runs', async () => {
    const reward = await load('throws.js');
    const err = await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
    assert.equal(err.kind, 'call');
    assert.equal(err.message, `Reward function ${fixture('throws.js')} threw: no answer column in this batch.`);
    assert.match(err.details ?? '', /throws\.js:2/);
    await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
  });

  test('the wrong length', async () => {
    const reward = await load('wrongLength.js');
    const err = await failure(reward.call({ prompts: ['p', 'p', 'p'], completions: ['a', 'b', 'c'] }));
    assert.equal(err.message, `Reward function ${fixture('wrongLength.js')} returned 2 rewards for 3 completions; return one number (or null) per completion.`);
  });

  test('a string among the rewards', async () => {
    const reward = await load('strings.js');
    const err = await failure(reward.call({ prompts: ['p', 'p'], completions: ['ab', 'abcdef'] }));
    assert.equal(err.message, `Reward function ${fixture('strings.js')} returned a string ("1.0") at index 1; return a number, or null for "not scored".`);
  });

  test('not an array', async () => {
    const reward = await load('notArray.js');
    const err = await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
    assert.match(err.message, /notArray\.js returned an object, not an array with one number \(or null\) per completion\.$/);
  });

  test('an endless loop is stopped at the timeout, the event loop keeps turning, and the next call works', async () => {
    const reward = await load('hangs.js', { timeoutMs: 400 });
    let ticks = 0;
    const ticker = setInterval(() => { ticks++; }, 10);
    const started = performance.now();
    const err = await failure(reward.call({ prompts: ['hang'], completions: ['c'] }));
    const elapsed = performance.now() - started;
    clearInterval(ticker);
    assert.equal(err.kind, 'timeout');
    assert.equal(err.message, `Reward function ${fixture('hangs.js')} did not finish within 0.4 s and was stopped; make it faster or raise its timeout.`);
    assert.ok(elapsed >= 390 && elapsed < 2000, `stopped after ${elapsed.toFixed(0)} ms`);
    assert.ok(ticks >= 10, `the main thread ran ${ticks} timer ticks while the reward hung`);
    assert.deepEqual(await reward.call({ prompts: ['fine', 'fine'], completions: ['a', 'b'] }), [1, 1]);
  });

  test('exhausting the heap fails the call, not the process; the next call gets a fresh worker', async () => {
    const reward = await load('memoryHog.js', { heapMb: 48 });
    const err = await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
    assert.equal(err.kind, 'memory');
    assert.equal(err.message, `Reward function ${fixture('memoryHog.js')} ran out of memory (its heap limit is 48 MB) and was stopped.`);
    assert.equal((await failure(reward.call({ prompts: ['p'], completions: ['c'] }))).kind, 'memory');
  });

  test('a promise that never settles times out like a loop', async () => {
    const reward = await load('neverResolves.ts', { timeoutMs: 200 });
    const err = await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
    assert.equal(err.kind, 'timeout');
    assert.match(err.message, /neverResolves\.ts did not finish within 0\.2 s and was stopped/);
  });

  test('an error thrown outside the call (a timer) fails the call in flight; the next starts a fresh worker', async () => {
    const reward = await load('throwsLater.js');
    const err = await failure(reward.call({ prompts: ['p'], completions: ['c'] }));
    assert.equal(err.message, `Reward function ${fixture('throwsLater.js')} crashed: late failure.`);
    assert.equal((await failure(reward.call({ prompts: ['p'], completions: ['c'] }))).message, err.message);
  });

  test('a closed reward refuses calls', async () => {
    const reward = await load('length.js');
    await reward.close();
    assert.equal((await failure(reward.call({ prompts: ['p'], completions: ['c'] }))).kind, 'closed');
  });
});

describe('the process around a user reward', () => {
  test('exits when its work is done even if close() was forgotten', () => {
    const driver = fixture('drivers/noClose.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', driver, fixture('length.js')], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), '[0.5]');
  });
});

describe('checkRewards', () => {
  test('rejects infinities and undefined, names the index', () => {
    assert.throws(() => checkRewards([1, Infinity], 2, '/r.js'), /returned Infinity at index 1; return a finite number/);
    assert.throws(() => checkRewards([undefined], 1, '/r.js'), /returned undefined at index 0/);
    assert.throws(() => checkRewards([{ $type: 'a Map' }], 1, '/r.js'), /returned a Map at index 0/);
    assert.deepEqual(checkRewards([], 0, '/r.js'), []);
  });
});
