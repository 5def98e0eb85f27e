// Which tensor backend runs on this machine get, found once when the daemon starts: a short-lived
// `dist/worker.js --probe` child walks the same ladder a run does and answers over IPC. The daemon
// never loads tfjs itself, and a probe that hangs in a native library is killed after a timeout.

import { fork } from 'node:child_process';
import type { BackendProbeState } from '../../core/protocol/daemon.ts';
import type { BackendInfo } from '../../core/protocol/runs.ts';
import { isProbeMessage, isWorkerMessage } from '../../core/protocol/worker.ts';

/** What the probe found so far. */
export interface BackendProbeResult {
  state: BackendProbeState;
  backend: BackendInfo | null;
  error?: string;
}

export interface BackendProbe {
  /** The result now (state `probing` until the child answers). */
  current(): BackendProbeResult;
  /** Resolves with the final result (never rejects). */
  readonly done: Promise<BackendProbeResult>;
  /** Ends the child if it still runs (daemon shutdown). */
  kill(): void;
}

/**
 * The engine's ladder (daemon/engine/backend.ts BACKEND_NAMES), repeated here because importing the
 * engine would load tfjs into the daemon; a test keeps the two equal.
 */
export const KNOWN_BACKENDS = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

/** A child that takes longer than this is stuck (loading a native backend can hang on a broken driver). */
const PROBE_TIMEOUT_MS = 60_000;

/**
 * The forced backend named by `--backend` or ANNEAL_BACKEND, checked; undefined for none or `auto`.
 * Throws one sentence for an unknown name.
 */
export function resolveForcedBackend(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = (flag ?? env.ANNEAL_BACKEND ?? '').trim();
  if (value === '' || value === 'auto') return undefined;
  if (!(KNOWN_BACKENDS as readonly string[]).includes(value)) {
    const from = flag !== undefined ? '--backend' : 'ANNEAL_BACKEND';
    throw new Error(`Unknown backend "${value}" (from ${from}); use one of ${KNOWN_BACKENDS.join(', ')}, or auto to pick the first that works.`);
  }
  return value;
}

/** Starts the probe child (`workerPath --probe`); `forced` probes only that backend. */
export function probeBackend(workerPath: string, forced: string | undefined, log: (line: string) => void = () => {}): BackendProbe {
  let result: BackendProbeResult = { state: 'probing', backend: null };
  let settle!: (r: BackendProbeResult) => void;
  const done = new Promise<BackendProbeResult>((r) => (settle = r));
  const finish = (r: BackendProbeResult) => {
    if (result.state !== 'probing') return;
    result = r;
    clearTimeout(timer);
    settle(r);
  };
  const args = ['--probe', ...(forced ? ['--backend', forced] : [])];
  let stderr = '';
  const child = fork(workerPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [], env: process.env });
  child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-2000)));
  const timer = setTimeout(() => {
    finish({ state: 'failed', backend: null, error: `The backend probe did not answer within ${PROBE_TIMEOUT_MS / 1000} s (a native backend may hang while loading); runs still choose their own backend.` });
    child.kill('SIGKILL');
  }, PROBE_TIMEOUT_MS);
  timer.unref();
  child.on('message', (msg) => {
    if (isWorkerMessage(msg) && msg.type === 'ready') {
      // A worker bundle that does not know --probe (a custom ANNEAL_WORKER) waits for a job instead.
      finish({ state: 'failed', backend: null, error: `The worker ${workerPath} does not answer --probe; runs still choose their own backend.` });
      child.kill('SIGKILL');
      return;
    }
    if (!isProbeMessage(msg)) return;
    if (msg.type === 'probe') finish({ state: 'done', backend: msg.backend });
    else finish({ state: 'failed', backend: null, error: msg.message });
  });
  child.on('error', (err) => {
    finish({ state: 'failed', backend: null, error: `The backend probe could not start (${err.message}); check that ${workerPath} exists.` });
  });
  child.on('close', (code, signal) => {
    const last = stderr.trim().split('\n').slice(-1)[0];
    finish({ state: 'failed', backend: null, error: `The backend probe ${signal ? `was killed by ${signal}` : `exited with code ${code}`} without an answer${last ? `: ${last}` : ''}.` });
  });
  done.then((r) => log(r.backend
    ? `backend probe: ${r.backend.name} (${r.backend.device})${r.backend.skipped.map((s) => `; skipped ${s.name}: ${s.reason}`).join('')}`
    : `backend probe failed: ${r.error}`));
  return {
    current: () => result,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
