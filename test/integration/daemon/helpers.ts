// Real daemons for the tests: `node dist/cli.js daemon --port 0 --state-dir <tmp>` in a child
// process, its listening line read from stdout, and clients connected with the token it wrote.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { connectDaemon, type DaemonClient } from '../../../daemon/client/connect.ts';
import { RunMetricsNotification, RunStatusNotification } from '../../../core/protocol/daemon.ts';
import type { MetricRecord, RunInfo } from '../../../core/protocol/runs.ts';

export const ROOT = resolve(import.meta.dirname, '../../..');
/** The CLI bundle under test (`npm test` builds it first). */
export const CLI = join(ROOT, 'dist/cli.js');

export interface TestDaemon {
  proc: ChildProcess;
  url: string;
  port: number;
  stateDir: string;
  token: string;
  /** Everything the daemon wrote to stderr so far. */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Every daemon a test started; any still alive when the test process exits are killed. */
const spawnedPids = new Set<number>();
process.on('exit', () => {
  for (const pid of spawnedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Kills this daemon (by pid) if a failing test leaves it running. */
export function killOnExit(pid: number): void {
  spawnedPids.add(pid);
}

/** A fresh temp dir, removed after the test. */
export function tempDir(t: { after(fn: () => void): void }, prefix = 'anneal-daemon-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a daemon and resolves once it printed its listening line. */
export function startTestDaemon(stateDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<TestDaemon> {
  const proc = spawn(process.execPath, [CLI, 'daemon', '--port', '0', '--state-dir', stateDir, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (proc.pid) killOnExit(proc.pid);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.once('line', (line) => {
      try {
        const msg = JSON.parse(line);
        if (msg.event !== 'listening') throw new Error(`unexpected first line: ${line}`);
        const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
        resolvePromise({ proc, url: msg.url, port: msg.port, stateDir: msg.stateDir, token, stderr: () => stderr, exited });
      } catch (err) {
        reject(err);
      }
    });
    exited.then(({ code }) => reject(new Error(`daemon exited (${code}) before listening: ${stderr}`)));
  });
}

/** Stops a daemon gracefully (SIGTERM) and waits for it to exit. */
export async function stopTestDaemon(d: TestDaemon): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
  d.proc.kill('SIGTERM');
  await d.exited;
}

export function connect(d: TestDaemon): Promise<DaemonClient> {
  return connectDaemon(d.url, d.token, { clientName: 'anneal-test' });
}

/** Resolves with the run's record on the first `run/status` for `runId` that satisfies `pred`. */
export function waitForStatus(client: DaemonClient, runId: string, pred: (run: RunInfo) => boolean): Promise<RunInfo> {
  return new Promise((resolvePromise, reject) => {
    const sub = client.on(RunStatusNotification.type, ({ run }) => {
      if (run.id === runId && pred(run)) {
        sub.dispose();
        resolvePromise(run);
      }
    });
    client.closed.then(() => reject(new Error('connection closed while waiting for a status')));
  });
}

/** Collects every `run/metrics` record for `runId` the connection receives. */
export function collectMetrics(client: DaemonClient, runId: () => string | undefined): MetricRecord[] {
  const out: MetricRecord[] = [];
  client.on(RunMetricsNotification.type, (p) => {
    if (p.runId === runId()) out.push(p.record);
  });
  return out;
}

/** The records of a run's metrics.jsonl. */
export function readMetricsFile(stateDir: string, runId: string): MetricRecord[] {
  return readFileSync(join(stateDir, 'runs', runId, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
