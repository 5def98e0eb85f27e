// `runs/start`'s checks, each in its own short-lived child process (dist/checkWorker.js): the daemon's
// event loop keeps answering while a big dataset is checked, and a check that runs away (memory, time)
// is killed without touching the daemon. Checks are bounded in number: a few run at once, a few more
// wait, and the rest are refused as Busy, so a burst of requests cannot exhaust the machine.

import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import { prepareRun, type PreparedPipeline, type PreparedRun } from './prepare.ts';

/** What the check process sends back: the run, or the ResponseError's parts. */
export type CheckAnswer =
  | { ok: true; prepared: PreparedRun | PreparedPipeline }
  | { ok: false; code?: number; message: string; data?: unknown; stack?: string };

export interface CheckRunnerOptions {
  /** dist/checkWorker.js. */
  checkWorkerPath: string;
  log?: (line: string) => void;
  /** Checks that run at the same time. */
  maxConcurrent?: number;
  /** Checks that wait for a slot; more are refused with Busy. */
  maxQueued?: number;
  /** A check still running after this long is killed and the request answered with CheckFailed. */
  timeoutMs?: number;
  /** The V8 heap of one check process, in MB. */
  maxHeapMb?: number;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 120_000;

/** Runs the checks of `runs/start` requests in child processes, a bounded number at a time. */
export class CheckRunner {
  private readonly children = new Set<ChildProcess>();
  private readonly waiting: Array<{ start: () => void; cancel: (err: Error) => void }> = [];
  private active = 0;
  private closed = false;

  constructor(private readonly options: CheckRunnerOptions) {}

  /** Validates a request; rejects with the ResponseError prepareRun throws, or Busy / CheckFailed. */
  prepare(params: Record<string, unknown>): Promise<PreparedRun | PreparedPipeline> {
    if (this.closed) return Promise.reject(new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; start the run again in a moment.'));
    const maxConcurrent = this.options.maxConcurrent ?? 2;
    const maxQueued = this.options.maxQueued ?? 8;
    if (this.active >= maxConcurrent && this.waiting.length >= maxQueued) {
      return Promise.reject(new ResponseError(DaemonErrorCodes.Busy, `The daemon is already checking ${this.active + this.waiting.length} runs' data; start this run again in a moment.`));
    }
    const slot = this.active < maxConcurrent
      ? Promise.resolve()
      : new Promise<void>((start, cancel) => this.waiting.push({ start, cancel }));
    if (this.active < maxConcurrent) this.active++;
    return slot.then(() => this.check(params)).finally(() => this.release());
  }

  /** Kills every check in progress and refuses those waiting (daemon shutdown). */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.cancel(new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; start the run again in a moment.'));
    for (const child of this.children) child.kill('SIGKILL');
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.start(); // the slot passes on: `active` stays the same
    else this.active--;
  }

  private check(params: Record<string, unknown>): Promise<PreparedRun | PreparedPipeline> {
    const log = this.options.log ?? (() => {});
    if (!existsSync(this.options.checkWorkerPath)) {
      log(`[anneal] ${this.options.checkWorkerPath} is missing (build with \`node esbuild.mjs\`): checking data on the daemon's event loop`);
      return Promise.resolve().then(() => prepareRun(params));
    }
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const child = fork(this.options.checkWorkerPath, [], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        execArgv: [`--max-old-space-size=${this.options.maxHeapMb ?? 4096}`],
        env: process.env,
      });
      this.children.add(child);
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
      let answer: CheckAnswer | undefined;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('message', (msg) => (answer ??= msg as CheckAnswer));
      child.on('error', (err) => log(`[anneal] data check process error: ${err.message}`));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        if (answer?.ok) return resolve(answer.prepared);
        if (answer && answer.code !== undefined) return reject(new ResponseError(answer.code, answer.message, answer.data));
        if (answer) {
          if (answer.stack) log(`[anneal] data check failed: ${answer.stack}`);
          return reject(new ResponseError(DaemonErrorCodes.InternalError, `The data check failed: ${answer.message}; the daemon log has the details.`));
        }
        if (stderr.trim()) log(`[anneal] data check process ended (${signal ?? code}): ${stderr.trim()}`);
        if (this.closed) return reject(new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; start the run again in a moment.'));
        if (timedOut) {
          return reject(new ResponseError(DaemonErrorCodes.CheckFailed, `Checking the data took longer than ${Math.round(timeoutMs / 1000)} s and was stopped; split the data into smaller files (\`anneal validate FILE\` checks one without a time limit).`));
        }
        const oom = /heap out of memory|ENOMEM|bad_alloc|Cannot allocate/i.test(stderr);
        reject(new ResponseError(DaemonErrorCodes.CheckFailed, oom
          ? 'The data is too large to check in memory; split the file into smaller ones.'
          : `The data check stopped (${signal ?? `exit code ${code}`}) without an answer; the daemon log has its last output.`));
      });
      child.send(params, (err) => {
        if (err) child.kill('SIGKILL');
      });
    });
  }
}
