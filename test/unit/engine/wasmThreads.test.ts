// Threads for the wasm backend (daemon/engine/wasmThreads.ts): the thread count (ANNEAL_WASM_THREADS,
// cores, cgroup quotas), and, in child processes since the count is fixed once per process, that the
// threaded build starts, gives one thread's numbers (a matmul, AnnealBatchMatMul, SFT steps), keeps
// our kernel overrides, lets the process exit on its own, and falls back to one thread when it breaks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupCpuLimit, chooseThreadCount, MAX_WASM_THREADS, THREADS_ENV, usableCores } from '../../../daemon/engine/wasmThreads.ts';

test('thread count: one per core up to 8 unless ANNEAL_WASM_THREADS says otherwise', () => {
  assert.deepEqual(chooseThreadCount(undefined, 2), { threads: 2 });
  assert.deepEqual(chooseThreadCount('', 1), { threads: 1 });
  assert.deepEqual(chooseThreadCount('auto', 64), { threads: MAX_WASM_THREADS });
  assert.deepEqual(chooseThreadCount('1', 16), { threads: 1, note: 'ANNEAL_WASM_THREADS=1' });
  assert.deepEqual(chooseThreadCount(' 3 ', 2), { threads: 3, note: 'ANNEAL_WASM_THREADS=3' });
  assert.deepEqual(chooseThreadCount('12', 2), { threads: 8, note: 'ANNEAL_WASM_THREADS=12 capped at 8, the wasm build\'s most' });
  for (const bad of ['0', 'two', '1.5', '-2']) {
    const got = chooseThreadCount(bad, 4);
    assert.equal(got.threads, 4, `${bad} falls back to the automatic count`);
    assert.match(got.note!, new RegExp(`^${THREADS_ENV}=${bad.replace('.', '\\.')} ignored: set it to a whole number`));
  }
});

test('cgroup CPU quotas: v2 cpu.max and v1 cfs files, rounded down, none when unlimited', () => {
  assert.equal(cgroupCpuLimit('max 100000\n'), undefined);
  assert.equal(cgroupCpuLimit('200000 100000\n'), 2);
  assert.equal(cgroupCpuLimit('150000 100000'), 1);
  assert.equal(cgroupCpuLimit('50000 100000'), 1, 'half a CPU still runs one thread');
  assert.equal(cgroupCpuLimit(undefined, '-1\n', '100000\n'), undefined);
  assert.equal(cgroupCpuLimit(undefined, '400000\n', '100000\n'), 4);
  assert.equal(cgroupCpuLimit(undefined), undefined);
  assert.ok(usableCores() >= 1);
});

/** Runs wasmThreadsChild.ts with `env` added; resolves to its JSON once it has exited on its own. */
function child(env: Record<string, string | undefined>, mode = 'normal'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'wasmThreadsChild.ts'), mode], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.stderr.on('data', (d: Buffer) => (err += d));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`child (${mode}, ${JSON.stringify(env)}) exited with ${code ?? signal}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>);
    });
  });
}

function maxDiff(a: unknown, b: unknown): number {
  const x = a as number[];
  const y = b as number[];
  assert.equal(x.length, y.length);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!) / Math.max(1, Math.abs(y[i]!))), 0);
}

const cores = usableCores();
// A hang (a worker keeping the process alive) fails through the timeout instead of blocking the run.
const options = { skip: cores < 2 ? `one usable core: the threaded build would run ${cores} thread` : false, timeout: 600_000 };

test('the threaded backend starts with one thread per core and matches one thread; both processes exit by themselves', options, async () => {
  const threaded = await child({ [THREADS_ENV]: undefined });
  const single = await child({ [THREADS_ENV]: '1' });
  const want = Math.min(cores, MAX_WASM_THREADS);
  assert.equal(threaded.threads, want);
  assert.equal(threaded.device, `wasm SIMD, ${want} threads`);
  assert.equal(single.threads, 1);
  assert.equal(single.device, 'wasm SIMD, 1 thread (ANNEAL_WASM_THREADS=1)');
  for (const r of [threaded, single]) {
    assert.equal(r.fast, true, 'AnnealBatchMatMul registers on this backend');
    assert.equal(r.identityShares, true, 'the Identity override shares memory on this backend');
  }
  assert.ok(maxDiff(threaded.product, single.product) <= 1e-6, `matmul differs by ${maxDiff(threaded.product, single.product)}`);
  assert.ok(maxDiff(threaded.batched, single.batched) <= 1e-6, `batched matmul differs by ${maxDiff(threaded.batched, single.batched)}`);
  assert.equal((single.losses as number[]).length, 3);
  assert.ok(maxDiff(threaded.losses, single.losses) <= 1e-5, `SFT losses ${threaded.losses} vs ${single.losses}`);
  assert.ok(maxDiff(threaded.gradNorms, single.gradNorms) <= 1e-4, `grad norms ${threaded.gradNorms} vs ${single.gradNorms}`);
});

test('a threaded build that cannot start leaves one working thread, says why, and lets the process exit', options, async () => {
  const r = await child({}, 'broken');
  assert.equal(r.threads, 1);
  assert.match(r.note as string, /^threads did not start \(.*\); set ANNEAL_WASM_THREADS=1 to skip trying$/);
  assert.equal((r.product as number[]).length, 8);
});
