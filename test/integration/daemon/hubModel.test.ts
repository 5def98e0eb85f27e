// A Hub id as the model of a run, end to end: `anneal train --model org/name` against a fake Hub on
// 127.0.0.1 (HF_ENDPOINT), the run's worker downloads the model into HF_HUB_CACHE with progress in
// its status, trains, and a second run finds the model in the cache with the Hub gone.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tinyTokenizerFiles } from '../../../core/tokenize/index.ts';
import { initialWeights } from '../../../daemon/engine/model.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { encodeSafetensors } from '../../../daemon/engine/safetensors.ts';
import { startFakeHub } from '../../helpers/fakeHub.ts';
import { CLI, ROOT, killOnExit, tempDir } from './helpers.ts';

const ID = 'anneal-test/tiny';
const COMMIT = 'f'.repeat(40);

/** The built-in tiny model as a Hub repository: config.json, random weights, its tokenizer. */
function tinyRepo(): Map<string, Uint8Array> {
  const config = tinyConfig();
  const tok = tinyTokenizerFiles();
  return new Map<string, Uint8Array>([
    ['config.json', Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], ...config }))],
    ['model.safetensors', encodeSafetensors(initialWeights(config, 3), { format: 'pt' })],
    ['tokenizer.json', Buffer.from(JSON.stringify(tok.tokenizerJson))],
    ['tokenizer_config.json', Buffer.from(JSON.stringify(tok.tokenizerConfig))],
  ]);
}

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));

/** `anneal train sft --model ID --json`; resolves with its events once it exits. */
async function train(stateDir: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; events: any[]; stderr: string }> {
  const args = [CLI, 'train', 'sft', '--model', ID, '--data', join(ROOT, 'examples/sft.jsonl'), '--max-steps', '2', '--json', '--state-dir', stateDir];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const events: any[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line)));
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  if (existsSync(join(stateDir, 'daemon.json'))) {
    const { pid } = JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8'));
    killOnExit(pid);
    cleanups.unshift(() => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    });
  }
  return { code, events, stderr };
}

test('`anneal train --model org/name` downloads the model in the run (progress in its status), then trains from the cache offline', async (t) => {
  const dir = tempDir(t, 'anneal-hub-run-');
  const hub = await startFakeHub(new Map([[ID, { commits: new Map([[COMMIT, tinyRepo()]]), refs: new Map([['main', COMMIT]]) }]]));
  const env = { HF_HUB_CACHE: join(dir, 'hub'), HF_ENDPOINT: hub.url };

  const first = await train(join(dir, 'state1'), env);
  assert.equal(first.code, 0, first.stderr);
  const statuses = first.events.filter((e) => e.event === 'status');
  assert.equal(statuses.at(-1).status, 'completed', JSON.stringify(statuses.at(-1)));
  const downloads = statuses.filter((s) => s.progress);
  assert.ok(downloads.length > 0, 'the download reports its progress');
  assert.match(downloads.at(-1).message, /^downloading anneal-test\/tiny: model\.safetensors, .* \(100%\)$/);
  assert.equal(downloads.at(-1).progress.done, downloads.at(-1).progress.total);
  assert.equal(statuses.at(-1).progress, undefined, 'progress is cleared once the download is over');
  const snapshot = join(dir, 'hub', 'models--anneal-test--tiny', 'snapshots', COMMIT);
  assert.ok(existsSync(join(snapshot, 'model.safetensors')));
  assert.ok(first.events.some((e) => e.event === 'metrics' && e.step === 2), 'it trained');

  // The Hub is gone: a new daemon's run takes the model from the cache.
  await hub.close();
  const second = await train(join(dir, 'state2'), { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(second.code, 0, second.stderr);
  const secondStatuses = second.events.filter((e) => e.event === 'status');
  assert.equal(secondStatuses.at(-1).status, 'completed', JSON.stringify(secondStatuses.at(-1)));
  assert.equal(secondStatuses.filter((s) => s.progress).length, 0, 'nothing downloaded');
});
