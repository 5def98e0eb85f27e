// Multi-threaded wasm under Node.
//
// tfjs-backend-wasm 4.22 ships a threaded SIMD build (XNNPACK on a pthreadpool) but never uses it
// under Node: its WASM_HAS_MULTITHREAD_SUPPORT flag is false there, because its init() hands
// Emscripten the pthread worker script and the module's own source as blob: URLs, which Node's
// worker_threads cannot load. Here we do what init() does in a browser, with files instead of blobs:
// call the threaded build's Emscripten factory ourselves, give it a worker script and a main script
// written to a private temporary folder, wrap the module the way init() does, and hand it to the
// package's own BackendWasm class, registered under the usual "wasm" name so every wasm kernel (the
// package's and ours in wasmKernels.ts) applies unchanged. ENGINE.md ("Threads") has the figures:
// 2 threads made matMul 1.98x and the engine 1.5x faster.
//
// Anything that goes wrong here must only cost the threads: startThreadedWasm() throws, and the
// caller keeps the package's single-threaded SIMD build. Pinned to tfjs-backend-wasm 4.22's Emscripten
// output (PThread, the "load"/"loaded" protocol, its fixed pool of 8 workers).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as threadedBuild from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
// @ts-expect-error -- the package ships no types for its worker script (a string export).
import * as threadedWorker from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';

/** The environment variable that forces a thread count (1 = the single-threaded build). */
export const THREADS_ENV = 'ANNEAL_WASM_THREADS';

/** The C++ side caps threads at 8, the size of the worker pool Emscripten creates up front. */
export const MAX_WASM_THREADS = 8;

const THREADED_WASM = 'tfjs-backend-wasm-threaded-simd.wasm';

/** A threads-or-not decision and, when it is not the automatic one, why. */
export interface ThreadChoice {
  threads: number;
  note?: string;
}

/**
 * The number of threads to ask for: `ANNEAL_WASM_THREADS` when it is a whole number >= 1 (capped at
 * 8), else one per usable core (capped at 8). `cores` is usableCores() unless a test says otherwise.
 */
export function chooseThreadCount(envValue: string | undefined, cores: number): ThreadChoice {
  const auto = Math.max(1, Math.min(MAX_WASM_THREADS, cores));
  const raw = envValue?.trim() ?? '';
  if (raw === '' || raw === 'auto') return { threads: auto };
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    return { threads: auto, note: `${THREADS_ENV}=${raw} ignored: set it to a whole number of threads (1 = no threads) or unset it` };
  }
  const forced = Number(raw);
  if (forced > MAX_WASM_THREADS) return { threads: MAX_WASM_THREADS, note: `${THREADS_ENV}=${raw} capped at ${MAX_WASM_THREADS}, the wasm build's most` };
  return { threads: forced, note: `${THREADS_ENV}=${raw}` };
}

/**
 * CPUs a cgroup quota allows, from cgroup v2's cpu.max ("max 100000" or "200000 100000") or v1's
 * cfs_quota_us and cfs_period_us; undefined without a quota. Rounded down: a thread the quota cannot
 * run makes every parallel op wait for it.
 */
export function cgroupCpuLimit(cpuMax: string | undefined, quotaV1?: string, periodV1?: string): number | undefined {
  let quota: number;
  let period: number;
  if (cpuMax !== undefined) {
    const [q, p] = cpuMax.trim().split(/\s+/);
    if (q === undefined || q === 'max') return undefined;
    quota = Number(q);
    period = Number(p ?? 100000);
  } else if (quotaV1 !== undefined && periodV1 !== undefined) {
    quota = Number(quotaV1.trim());
    period = Number(periodV1.trim());
  } else {
    return undefined;
  }
  if (!(quota > 0) || !(period > 0)) return undefined; // -1 (v1's "no quota") or unreadable
  return Math.max(1, Math.floor(quota / period));
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Cores this process may use: os.availableParallelism() (the CPU affinity mask), lowered to a cgroup
 * CPU quota if there is one. Node 20's libuv (1.46) reads the affinity mask but not the quota, and a
 * container's quota is what decides whether a second thread runs or waits.
 */
export function usableCores(): number {
  const affinity = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (process.platform !== 'linux') return affinity;
  const limit = cgroupCpuLimit(
    readOptional('/sys/fs/cgroup/cpu.max'),
    readOptional('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'),
    readOptional('/sys/fs/cgroup/cpu/cpu.cfs_period_us'),
  );
  return limit === undefined ? affinity : Math.min(affinity, limit);
}

// The parts of the threaded Emscripten module we touch beyond what BackendWasm does.
interface ThreadedModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: unknown[]) => unknown;
  tfjs?: unknown;
  PThread: { unusedWorkers: Worker[]; runningWorkers: Worker[]; terminateAllThreads(): void };
}
type Factory = (config: Record<string, unknown>) => Promise<ThreadedModule>;

const factory = ((threadedBuild as { default?: unknown }).default ?? threadedBuild) as unknown as Factory;
const workerSource = ((threadedWorker as { wasmWorkerContents?: string }).wasmWorkerContents ??
  (threadedWorker as { default?: { wasmWorkerContents?: string } }).default?.wasmWorkerContents) as string | undefined;

/** How long the module and its 8 pool workers may take to load before we give up on threads. */
const START_TIMEOUT_MS = 60_000;

/**
 * Creates the threaded wasm backend with `threads` threads from the binaries in `wasmDir` and registers
 * it as "wasm" (replacing the package's factory, which would build the single-threaded module). Must
 * run before the wasm backend is first initialised. Throws, leaving the package's factory in place and
 * no worker running, if anything fails.
 */
export async function startThreadedWasm(wasmDir: string, threads: number): Promise<void> {
  if (typeof workerSource !== 'string' || typeof factory !== 'function') {
    throw new Error('this tfjs-backend-wasm has no threaded build');
  }
  if (!existsSync(join(wasmDir, THREADED_WASM))) throw new Error(`${THREADED_WASM} is missing from ${wasmDir}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'anneal-wasm-'));
  const workers: Worker[] = [];
  let module: ThreadedModule | undefined;
  try {
    // The worker script is a template-literal string whose one "\n" escape became a real newline inside
    // a JS string literal: escape it back, as tfjs does before making its blob. .cjs: it uses require.
    const workerFile = join(dir, 'pthread-worker.cjs');
    writeFileSync(workerFile, workerSource.replace(/\n/g, '\\n'));
    // Each pool worker evaluates this file and then calls the global it defines with its own Module,
    // exactly what tfjs's blob holds.
    const mainFile = join(dir, 'threaded-simd.js');
    writeFileSync(mainFile, `var WasmBackendModuleThreadedSimd = ${factory.toString()};\n`);
    module = await instantiate({ threads, wasmDir, workerFile, mainFile, workers });
    // The bridge tfjs's init() adds; BackendWasm and our kernels call these.
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    setThreadsCount(threads);
    // Starts the pthreadpool: threads - 1 pool workers get a pthread; the calling thread is the last.
    const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
    const got = (module.tfjs as { getThreadsCount(): number }).getThreadsCount();
    if (got !== threads) {
      backend.dispose();
      throw new Error(`the threaded build started ${got} threads instead of ${threads}`);
    }
    // Workers no pthread took would each hold an idle V8 isolate for the life of the process.
    for (const w of module.PThread.unusedWorkers.splice(0)) void w.terminate();
    if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => backend, 2);
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw e;
  } finally {
    // The workers have read both files by now (the module resolves only once all 8 reported "loaded").
    rmSync(dir, { recursive: true, force: true });
  }
}

interface InstantiateArgs {
  threads: number;
  wasmDir: string;
  workerFile: string;
  mainFile: string;
  workers: Worker[];
}

/** Runs the Emscripten factory with our files; rejects on a worker error, an abort or a timeout. */
function instantiate({ threads, wasmDir, workerFile, mainFile, workers }: InstantiateArgs): Promise<ThreadedModule> {
  return new Promise<ThreadedModule>((resolve, reject) => {
    let starting = true;
    const fail = (why: string) => {
      if (!starting) return;
      starting = false;
      clearTimeout(timer);
      restoreCpus();
      removeListeners();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`its workers did not load within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);

    // Emscripten's pool workers, made by the factory's own `new Worker(file)`. Two changes: an error
    // while starting rejects (Emscripten's handler rethrows it, which would kill the process), and
    // ref() does nothing: Emscripten refs a worker while its pthread runs, and XNNPACK's pthreads run
    // (parked) for the life of the module, so the process could never exit on its own.
    class PoolWorker extends Worker {
      #onerror: ((e: unknown) => void) | undefined;
      constructor(file: string) {
        super(file);
        workers.push(this);
      }
      override ref(): void {}
      get onerror(): (e: unknown) => void {
        return (e) => {
          if (starting) fail(`a worker failed: ${e instanceof Error ? e.message : String(e)}`);
          else this.#onerror?.(e);
        };
      }
      set onerror(handler: (e: unknown) => void) {
        this.#onerror = handler;
      }
    }

    // The factory also registers process-wide exception handlers; drop them again if it fails.
    const events = ['uncaughtException', 'unhandledRejection'] as const;
    const listeners = (event: string) => process.listeners(event as 'uncaughtException') as ((...a: unknown[]) => void)[];
    const before = events.map(listeners);
    const removeListeners = () => {
      events.forEach((event, i) => {
        for (const l of listeners(event)) if (!before[i]!.includes(l)) process.removeListener(event, l);
      });
    };

    // The C++ side reads the core count once, at start-up, as os.cpus().length / 2 (it assumes two
    // hyper-threads per core) and never runs more threads than that: report enough cores for
    // `threads` until the module is up, then give os.cpus back.
    const cpus = os.cpus;
    const real = cpus.call(os);
    os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => real[i % Math.max(1, real.length)]!);
    const restoreCpus = () => {
      os.cpus = cpus;
    };

    // The factory sets the global `Worker` to worker_threads' class and then creates its pool with
    // `new Worker(...)`, all synchronously: hand it PoolWorker for that call only.
    const globalWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
    Object.defineProperty(globalThis, 'Worker', { configurable: true, get: () => PoolWorker, set: () => {} });
    let ready: Promise<ThreadedModule>;
    try {
      ready = factory({
        locateFile: (path: string) => (path.endsWith('.worker.js') ? workerFile : join(wasmDir, path.endsWith('.wasm') ? THREADED_WASM : path)),
        mainScriptUrlOrBlob: mainFile,
        onAbort: (what: unknown) => fail(`the module aborted (${String(what)})`),
      });
    } catch (e) {
      ready = Promise.reject(e);
    } finally {
      if (globalWorker) Object.defineProperty(globalThis, 'Worker', globalWorker);
      else delete (globalThis as { Worker?: unknown }).Worker;
    }
    ready.then(
      (module) => {
        restoreCpus();
        if (!starting) return;
        starting = false;
        clearTimeout(timer);
        resolve(module);
      },
      (e: unknown) => {
        restoreCpus();
        fail(e instanceof Error ? e.message : String((e as { message?: unknown })?.message ?? e));
      },
    );
  });
}

/**
 * Decides the thread count and, for 2 or more, starts the threaded build in place of the package's
 * single-threaded one. Never throws: returns why the backend will have fewer threads than asked, or
 * the override that set the count, for the backend report. Call before the wasm backend is activated.
 */
export async function setUpWasmThreads(wasmDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (tf.findBackend('wasm')) return undefined; // already running: its thread count stands
  const { threads, note } = chooseThreadCount(env[THREADS_ENV], usableCores());
  if (threads < 2) return note;
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) return 'no threads: the threaded build needs wasm SIMD';
  try {
    await startThreadedWasm(wasmDir, threads);
    return note;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return `threads did not start (${why}); set ${THREADS_ENV}=1 to skip trying`;
  }
}
