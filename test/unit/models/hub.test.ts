// Hub ids as models (daemon/models/hub.ts) against a fake Hub on 127.0.0.1: resolving from a cache
// laid out as huggingface_hub lays it out, downloading into an empty cache in that layout, resuming a
// cut download, the errors a user can cause, and revision pinning.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyTokenizerFiles } from '../../../core/tokenize/index.ts';
import { loadModelSource } from '../../../daemon/engine/modelSource.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { resolveModel, type DownloadProgress } from '../../../daemon/models/hub.ts';
import { blobName, startFakeHub, type FakeRepo } from '../../helpers/fakeHub.ts';
import { writeCachedModel } from '../../helpers/hubCache.ts';

const fixture = new URL('../../fixtures/engine/llama_tiny/', import.meta.url);
const COMMIT_A = '1'.repeat(40);
const COMMIT_B = 'b'.repeat(40);
const ID = 'anneal-test/llama-tiny';

/** The files of test/fixtures/engine/llama_tiny plus a tokenizer: a small model the folder loader reads. */
function modelFiles(): Map<string, Uint8Array> {
  const tok = tinyTokenizerFiles();
  const files = new Map<string, Uint8Array>();
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors']) files.set(f, readFileSync(new URL(f, fixture)));
  files.set('tokenizer.json', Buffer.from(JSON.stringify(tok.tokenizerJson)));
  files.set('tokenizer_config.json', Buffer.from(JSON.stringify(tok.tokenizerConfig)));
  return files;
}

/** The repository as the Hub lists it: the model plus files a training run does not need. */
function repoFiles(): Map<string, Uint8Array> {
  const files = modelFiles();
  files.set('README.md', Buffer.from('# llama-tiny\n'));
  files.set('pytorch_model.bin', Buffer.from('not needed: safetensors are there'));
  files.set('onnx/model.onnx', Buffer.from('not needed either'));
  return files;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-hub-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves once `condition` holds, checking on each turn of the event loop (no fixed wait). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

/** An endpoint nothing listens on: any request fails at once. */
async function deadEndpoint(): Promise<string> {
  const hub = await startFakeHub(new Map());
  await hub.close();
  return hub.url;
}

const singleRepo = (files = repoFiles(), token?: string): Map<string, FakeRepo> =>
  new Map([[ID, { commits: new Map([[COMMIT_A, files]]), refs: new Map([['main', COMMIT_A]]), token }]]);

test('a Hub id resolves from a cache laid out by huggingface_hub (refs, symlinked snapshot) without the network', async (t) => {
  const dir = tempDir(t);
  const cache = join(dir, 'hub');
  const snapshot = writeCachedModel(cache, ID, COMMIT_A, modelFiles(), 'main');
  writeCachedModel(cache, ID, COMMIT_B, new Map([...modelFiles()].filter(([f]) => f !== 'model.safetensors')), 'v2');
  const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: await deadEndpoint() };

  const resolved = await resolveModel(ID, { env, home: dir });
  assert.equal(resolved.dir, snapshot);
  assert.deepEqual(resolved.hub, { id: ID, revision: 'main', commit: COMMIT_A });
  assert.equal((await resolveModel(`${ID}@${COMMIT_A}`, { env, home: dir })).dir, snapshot);
  // $HF_HOME/hub is the cache when HF_HUB_CACHE is unset.
  assert.equal((await resolveModel(ID, { env: { HF_HOME: dir, HF_ENDPOINT: env.HF_ENDPOINT }, home: dir })).dir, snapshot);

  // The folder loader reads the snapshot through its symlinks: the fixture's weights and config.
  const source = loadModelSource(resolved.dir, 0);
  const weights = readSafetensors(new URL('model.safetensors', fixture).pathname).tensors;
  assert.deepEqual([...source.weights.keys()].sort(), [...weights.keys()].sort());
  for (const [name, w] of weights) assert.deepEqual(source.weights.get(name)!.data, w.data, name);
  assert.equal(source.config.hidden_size, 32);

  // A snapshot lacking its weights is not used as it is: the download (here: unreachable) fills it in.
  await assert.rejects(resolveModel(`${ID}@v2`, { env, home: dir }), /^Error: Cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); download the model elsewhere with `huggingface-cli download anneal-test\/llama-tiny --revision v2` into the Hugging Face cache \(.*\), or set HF_ENDPOINT to a mirror\.$/);
  // tiny and existing paths pass through untouched.
  assert.deepEqual(await resolveModel('tiny', { env, home: dir }), { dir: 'tiny' });
  assert.deepEqual(await resolveModel(snapshot, { env, home: dir }), { dir: snapshot });
});

test('a missing model is downloaded into the cache layout (etag blobs, snapshot symlinks, refs), then resolves offline', async (t) => {
  const dir = tempDir(t);
  const cache = join(dir, 'hub');
  const hub = await startFakeHub(singleRepo());
  t.after(() => hub.close());
  const reports: DownloadProgress[] = [];
  const logs: string[] = [];
  const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url };

  const resolved = await resolveModel(ID, { env, home: dir, onProgress: (p) => reports.push(p), progressIntervalMs: 0, log: (l) => logs.push(l) });
  const repo = join(cache, 'models--anneal-test--llama-tiny');
  const snapshot = join(repo, 'snapshots', COMMIT_A);
  assert.equal(resolved.dir, snapshot);
  assert.equal(readFileSync(join(repo, 'refs', 'main'), 'utf8'), COMMIT_A);
  const wanted = modelFiles();
  assert.deepEqual(readdirSync(snapshot).sort(), [...wanted.keys()].sort(), 'README, pytorch_model.bin and onnx/ are not fetched');
  for (const [name, content] of wanted) {
    const link = join(snapshot, name);
    assert.ok(lstatSync(link).isSymbolicLink(), name);
    assert.equal(readlinkSync(link), join('..', '..', 'blobs', blobName(name, content)));
    assert.deepEqual(readFileSync(link), Buffer.from(content), name);
  }
  assert.deepEqual(readdirSync(join(repo, 'blobs')).filter((f) => f.includes('.')), [], 'no .incomplete left');
  assert.equal(hub.requests.filter((r) => r.method === 'GET' && r.path.includes('pytorch_model')).length, 0);

  // Progress: bytes per file and in total, ending at the sum of the fetched files.
  const totalBytes = [...wanted.values()].reduce((n, c) => n + c.length, 0);
  const last = reports.at(-1)!;
  assert.equal(last.total, totalBytes);
  assert.equal(last.done, totalBytes);
  const weights = reports.filter((r) => r.file === 'model.safetensors').at(-1)!;
  assert.equal(weights.fileDone, wanted.get('model.safetensors')!.length);
  assert.equal(weights.fileTotal, weights.fileDone);
  assert.ok(reports.every((r, i) => i === 0 || r.done >= reports[i - 1]!.done), 'done only grows');
  assert.match(logs.at(-1)!, /anneal-test\/llama-tiny: 5 file\(s\), .* downloaded in .* into /);

  // Offline now: the same id resolves from what was written, without a request.
  await hub.close();
  const requestsBefore = hub.requests.length;
  const again = await resolveModel(ID, { env: { ...env, HF_HUB_OFFLINE: '1' }, home: dir });
  assert.equal(again.dir, snapshot);
  assert.equal(hub.requests.length, requestsBefore);
  assert.equal(loadModelSource(again.dir, 0).config.num_hidden_layers, 2);
});

test('a connection cut mid-file is resumed with a Range request; the blob is byte-identical', async (t) => {
  const dir = tempDir(t);
  const hub = await startFakeHub(singleRepo());
  t.after(() => hub.close());
  const weights = readFileSync(new URL('model.safetensors', fixture));
  const partial = join(dir, 'hub', 'models--anneal-test--llama-tiny', 'blobs', `${blobName('model.safetensors', weights)}.incomplete`);
  hub.cutOnce.set('model.safetensors', (sent) => until(() => existsSync(partial) && statSync(partial).size === sent));
  const resolved = await resolveModel(ID, { env: { HF_HUB_CACHE: join(dir, 'hub'), HF_ENDPOINT: hub.url }, home: dir });
  assert.deepEqual(readFileSync(join(resolved.dir, 'model.safetensors')), weights);
  const gets = hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
  assert.equal(gets.length, 2, 'one cut request, one resumed');
  assert.equal(gets[0]!.headers.range, undefined);
  assert.equal(gets[1]!.headers.range, `bytes=${Math.floor(weights.length / 2)}-`);
});

test('a partial blob left by an earlier process is continued from its last byte', async (t) => {
  const dir = tempDir(t);
  const cache = join(dir, 'hub');
  const hub = await startFakeHub(singleRepo());
  t.after(() => hub.close());
  const weights = readFileSync(new URL('model.safetensors', fixture));
  const blobs = join(cache, 'models--anneal-test--llama-tiny', 'blobs');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, `${blobName('model.safetensors', weights)}.incomplete`), weights.subarray(0, 1000));
  const reports: DownloadProgress[] = [];
  const resolved = await resolveModel(ID, { env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url }, home: dir, onProgress: (p) => reports.push(p), progressIntervalMs: 0 });
  assert.deepEqual(readFileSync(join(resolved.dir, 'model.safetensors')), weights);
  assert.deepEqual(hub.requests.filter((r) => r.path.startsWith('/cdn/')).map((r) => r.headers.range), ['bytes=1000-']);
  assert.equal(reports.at(-1)!.done, reports.at(-1)!.total);

  // A partial file that is not a prefix of the blob fails the sha256 check instead of being kept.
  const other = join(dir, 'other');
  mkdirSync(join(other, 'models--anneal-test--llama-tiny', 'blobs'), { recursive: true });
  writeFileSync(join(other, 'models--anneal-test--llama-tiny', 'blobs', `${blobName('model.safetensors', weights)}.incomplete`), Buffer.alloc(1000, 7));
  await assert.rejects(resolveModel(ID, { env: { HF_HUB_CACHE: other, HF_ENDPOINT: hub.url }, home: dir }), /did not match the Hub's sha256; start the run again to download it afresh\./);
  assert.equal(existsSync(join(other, 'models--anneal-test--llama-tiny', 'blobs', `${blobName('model.safetensors', weights)}.incomplete`)), false);
});

test('gated models: a wrong or missing token is one sentence naming HF_TOKEN; the right one is sent as a Bearer token', async (t) => {
  const dir = tempDir(t);
  const hub = await startFakeHub(singleRepo(repoFiles(), 'hf_right'));
  t.after(() => hub.close());
  const env = (token?: string) => ({ HF_HUB_CACHE: join(dir, 'hub'), HF_ENDPOINT: hub.url, ...(token ? { HF_TOKEN: token } : {}) });
  await assert.rejects(resolveModel(ID, { env: env('hf_wrong'), home: dir }), (err: Error) => {
    assert.equal(err.message, `${ID} is gated or private and the token from HF_TOKEN was refused: set HF_TOKEN to a token with access (and accept the model's terms on ${hub.url}/${ID}).`);
    return true;
  });
  await assert.rejects(resolveModel(ID, { env: env(), home: dir }), /is gated or private and no token is set: set HF_TOKEN to a token with access/);
  // The token file `huggingface-cli login` writes is used when HF_TOKEN is unset.
  mkdirSync(join(dir, '.cache', 'huggingface'), { recursive: true });
  writeFileSync(join(dir, '.cache', 'huggingface', 'token'), 'hf_right\n');
  const resolved = await resolveModel(ID, { env: env(), home: dir });
  assert.ok(existsSync(join(resolved.dir, 'model.safetensors')));
  assert.ok(hub.requests.filter((r) => r.path.startsWith('/api/')).at(-1)!.headers.authorization === 'Bearer hf_right');
});

test('unknown models and revisions, unreachable endpoints and repositories without safetensors: one sentence each', async (t) => {
  const dir = tempDir(t);
  const files = repoFiles();
  files.delete('model.safetensors');
  const repos = singleRepo();
  repos.set('anneal-test/bin-only', { commits: new Map([[COMMIT_B, files]]), refs: new Map([['main', COMMIT_B]]) });
  const hub = await startFakeHub(repos);
  t.after(() => hub.close());
  const env = { HF_HUB_CACHE: join(dir, 'hub'), HF_ENDPOINT: `${hub.url}/` };
  await assert.rejects(resolveModel('anneal-test/none', { env, home: dir }), (err: Error) => {
    // The Hub answers 401 RepoNotFound to anonymous requests for a repository it does not show.
    assert.match(err.message, /^There is no model anneal-test\/none on http:\/\/127\.0\.0\.1:\d+, or it is private and no token is set; check the id \(org\/name\), or set HF_TOKEN to a token with access\.$/);
    return true;
  });
  await assert.rejects(resolveModel(`${ID}@nope`, { env, home: dir }), new RegExp(`^Error: ${ID} has no revision "nope"; use a branch, tag or full commit hash listed on ${hub.url}/${ID}\\.$`));
  await assert.rejects(resolveModel('anneal-test/bin-only', { env, home: dir }), /^Error: anneal-test\/bin-only has no safetensors weights \(only pytorch_model\.bin, onnx\/model\.onnx\); this engine reads model\.safetensors, so pick a repository that ships it\.$/);
  const dead = await deadEndpoint();
  await assert.rejects(resolveModel(ID, { env: { ...env, HF_ENDPOINT: dead }, home: dir }), new RegExp(`^Error: Cannot reach ${dead} \\(ECONNREFUSED\\); download the model elsewhere with \`huggingface-cli download ${ID}\` into the Hugging Face cache`));
  await assert.rejects(resolveModel(ID, { env: { ...env, HF_HUB_OFFLINE: '1' }, home: dir }), /is not in the Hugging Face cache \(.*\) and HF_HUB_OFFLINE is set; unset it/);
});

test('revisions: @commit pins a snapshot without writing a ref, a branch or tag writes refs/{name}, sharded weights come by their index', async (t) => {
  const dir = tempDir(t);
  const cache = join(dir, 'hub');
  const v2 = modelFiles();
  v2.set('config.json', Buffer.from(JSON.stringify({ ...JSON.parse(readFileSync(new URL('config.json', fixture), 'utf8')), max_position_embeddings: 128 })));
  // v2 ships its weights in two shards (content is not parsed by the download) and a consolidated copy to skip.
  v2.delete('model.safetensors');
  v2.set('model-00001-of-00002.safetensors', Buffer.alloc(3000, 1));
  v2.set('model-00002-of-00002.safetensors', Buffer.alloc(2000, 2));
  v2.set('consolidated.safetensors', Buffer.alloc(5000, 3));
  v2.set('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } })));
  const repos = new Map<string, FakeRepo>([[ID, { commits: new Map([[COMMIT_A, repoFiles()], [COMMIT_B, v2]]), refs: new Map([['main', COMMIT_B], ['v1', COMMIT_A], ['refs/pr/1', COMMIT_B]]) }]]);
  const hub = await startFakeHub(repos);
  t.after(() => hub.close());
  const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url };
  const repo = join(cache, 'models--anneal-test--llama-tiny');

  const pinned = await resolveModel(`${ID}@${COMMIT_A}`, { env, home: dir });
  assert.equal(pinned.dir, join(repo, 'snapshots', COMMIT_A));
  assert.equal(JSON.parse(readFileSync(join(pinned.dir, 'config.json'), 'utf8')).max_position_embeddings, 64);
  assert.equal(existsSync(join(repo, 'refs')), false, 'a commit needs no ref');
  assert.ok(hub.requests.some((r) => r.path === `/api/models/${ID}/revision/${COMMIT_A}`));

  const tag = await resolveModel(`${ID}@v1`, { env, home: dir });
  assert.equal(tag.dir, pinned.dir);
  assert.equal(readFileSync(join(repo, 'refs', 'v1'), 'utf8'), COMMIT_A);

  const main = await resolveModel(ID, { env, home: dir });
  assert.equal(main.dir, join(repo, 'snapshots', COMMIT_B));
  assert.equal(JSON.parse(readFileSync(join(main.dir, 'config.json'), 'utf8')).max_position_embeddings, 128);
  assert.deepEqual(readdirSync(main.dir).filter((f) => f.endsWith('.safetensors')).sort(), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  // Files both commits share (same content, same etag) are one blob.
  assert.equal(readlinkSync(join(main.dir, 'tokenizer.json')), readlinkSync(join(pinned.dir, 'tokenizer.json')));

  const pr = await resolveModel(`${ID}@refs/pr/1`, { env, home: dir });
  assert.equal(pr.dir, main.dir);
  assert.equal(readFileSync(join(repo, 'refs', 'refs', 'pr', '1'), 'utf8'), COMMIT_B);
  assert.ok(hub.requests.some((r) => r.path === `/api/models/${ID}/revision/refs%2Fpr%2F1`), 'the revision is URL-encoded as one segment');
});
