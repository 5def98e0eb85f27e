// The run machinery: a queue of runs, each executed in its own worker process, with every event
// written to the run's files first and then handed to listeners (the WebSocket sessions). The daemon's
// event loop only moves small messages and appends lines; tensor work happens in the workers.

import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import { invalidRunIdMessage, isValidRunId } from '../../core/protocol/runId.ts';
import { isFinalStatus, type BackendInfo, type MetricRecord, type RecipeExportRecord, type RunInfo, type SampleRecord } from '../../core/protocol/runs.ts';
import type { WorkerToDaemon } from '../../core/protocol/worker.ts';
import { RunStore, newRunId } from './store.ts';
import { HeldLines } from './heldLines.ts';
import { killWorkerProcess, launchWorker, type WorkerHandle } from './workerProcess.ts';
import type { PreparedRun } from './prepare.ts';
import { jobFor, newRunRecord } from './runRecord.ts';
import { ExportJobs, failUnfinishedExports, withExport } from './recipeExports.ts';

/** What the sessions hear about runs. Events are delivered after they are on disk. */
export interface RunListener {
  status(run: RunInfo): void;
  metrics(runId: string, record: MetricRecord): void;
  sample(runId: string, record: SampleRecord): void;
  log(runId: string, line: string): void;
  /** The run and its folder were removed. */
  deleted?(runId: string): void;
}

export interface RunManagerOptions {
  workerPath: string;
  maxConcurrentRuns: number;
  /** Seconds a stop may take (the engine checkpoints first) before the worker is killed. */
  stopTimeoutMs?: number;
  /** Daemon-level log (stderr of the daemon). */
  log?: (line: string) => void;
  /** A backend every run must use (`anneal daemon --backend`, ANNEAL_BACKEND); unset walks the ladder. */
  backend?: string;
  /** dist/cli.js: a recipe's `export:` block runs `anneal export` with it once the run completes. */
  cliPath?: string;
}

interface ActiveRun {
  worker: WorkerHandle;
  stopRequested: boolean;
  /** The daemon is shutting down: a stopped run is recorded as interrupted, to be resumed later. */
  shutdown: boolean;
  outcome?: Extract<WorkerToDaemon, { type: 'result' | 'error' }>;
  lastOutput: string[];
  killTimer?: NodeJS.Timeout;
  exited: Promise<void>;
}

const now = () => new Date().toISOString();

/** The ResponseError for an unknown or malformed run id. */
function runIdError(id: unknown): ResponseError<void> {
  return isValidRunId(id)
    ? new ResponseError(DaemonErrorCodes.RunNotFound, `No run ${id}; \`anneal runs\` lists the runs of this daemon.`)
    : new ResponseError(DaemonErrorCodes.InvalidRunId, invalidRunIdMessage(id));
}

export class RunManager {
  private readonly runs = new Map<string, RunInfo>();
  private readonly active = new Map<string, ActiveRun>();
  private readonly queue: string[] = [];
  private readonly listeners = new Set<RunListener>();
  private readonly held: HeldLines;
  /** Lines a run lost to a full disk, by file, until the run ends. */
  private closing = false;
  /** Recipe exports in progress, by run id. */
  private readonly exports: ExportJobs;
  /** The backend the most recent run of this daemon reported (for `initialize`; newer than the startup probe). */
  lastBackend: BackendInfo | null = null;

  constructor(readonly store: RunStore, private readonly options: RunManagerOptions) {
    this.held = new HeldLines(store, options.log);
    this.exports = new ExportJobs(options.cliPath);
  }

  addListener(l: RunListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Loads every run from disk after a start. Runs that were running when the last daemon died are
   * marked interrupted (their orphaned worker, if still alive, is ended); queued runs start again.
   */
  recover(): void {
    for (const run of this.store.list().reverse()) {
      if (run.status === 'running' || run.status === 'stopping') {
        this.killOrphanWorker(run);
        run.status = 'interrupted';
        run.endedAt = now();
        run.message = 'The daemon stopped while this run was training; `anneal resume` continues from its last checkpoint.';
        this.trySave(run);
      }
      // No worker writes for this run any more: repair what a crash or a full disk left behind.
      for (const f of ['metrics.jsonl', 'samples.jsonl', 'log.txt'] as const) {
        const dropped = this.store.repairStreamFile(run.id, f);
        if (dropped > 0) this.options.log?.(`[anneal] run ${run.id}: dropped ${dropped} broken line(s) of ${f} (torn by a crash or a full disk)`);
      }
      const unfinished = this.store.removeUnfinishedCheckpoints(run.id);
      if (unfinished > 0) this.options.log?.(`[anneal] run ${run.id}: removed ${unfinished} half-written checkpoint folder(s)`);
      run.step = this.store.readRecords<MetricRecord>(run.id, 'metrics.jsonl').reduce((max, r) => Math.max(max, r.step), 0);
      this.runs.set(run.id, run);
      if (run.status === 'queued') this.queue.push(run.id);
      if (failUnfinishedExports(run.exports, `anneal export ${run.id}`)) this.trySave(run);
    }
    this.pump();
  }

  list(): RunInfo[] {
    return [...this.runs.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** The run, or a ResponseError naming the problem. */
  get(id: unknown): RunInfo {
    const run = isValidRunId(id) ? this.runs.get(id) : undefined;
    if (!run) throw runIdError(id);
    return run;
  }

  /** An export written on request (`runs/export`, the editor's "Export Run…"), listed on the run beside its recipe's. */
  recordExport(id: string, record: RecipeExportRecord): void {
    const run = this.runs.get(id);
    if (!run) return;
    run.exports = withExport(run.exports, record);
    this.trySave(run);
    this.emitStatus(run);
  }

  /** Creates and queues a run from validated input. */
  start(prepared: PreparedRun): RunInfo {
    if (this.closing) throw new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; start the run again in a moment.');
    let id = newRunId(prepared.stage);
    while (this.runs.has(id) || this.store.exists(id)) id = newRunId(prepared.stage);
    const run = newRunRecord(id, prepared, now(), this.store.dir(id));
    this.store.create(run);
    this.runs.set(id, run);
    for (const note of prepared.notes ?? []) this.appendLog(id, `[anneal] ${note}`);
    this.queue.push(id);
    this.emitStatus(run);
    this.pump();
    return run;
  }

  /** Asks a run to stop: dequeues a queued run, checkpoints and stops a running one. */
  stop(id: unknown, force = false): RunInfo {
    const run = this.get(id);
    const active = this.active.get(run.id);
    if (run.status === 'queued') {
      this.queue.splice(this.queue.indexOf(run.id), 1);
      this.finish(run, 'stopped', 'Stopped before it started.');
      return run;
    }
    if (!active) return run; // already over: stopping is idempotent
    active.stopRequested = true;
    if (force) active.worker.kill();
    else if (run.status !== 'stopping') {
      active.worker.stop();
      this.armKillTimer(active);
    }
    if (run.status === 'running') {
      run.status = 'stopping';
      run.message = 'Stopping: writing a checkpoint of the current step.';
      this.trySave(run);
      this.emitStatus(run);
    }
    return run;
  }

  /** Queues a stopped, failed or interrupted run again, continuing from its newest checkpoint. */
  resume(id: unknown): RunInfo {
    const run = this.get(id);
    if (run.status === 'completed') throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} already completed; start a new run instead.`);
    if (!isFinalStatus(run.status)) throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} is ${run.status}; it cannot be resumed until it ends.`);
    if (this.closing) throw new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; resume the run again in a moment.');
    this.killOrphanWorker(run);
    // Space held by a checkpoint write that failed (disk full) or was cut short by a crash.
    this.store.removeUnfinishedCheckpoints(run.id);
    // Only a checkpoint the daemon heard about counts: the engine logs a step's metrics before it
    // reports the step's checkpoint, so every metric up to it is on disk. A newer folder (written by a
    // worker whose daemon was already dead) would leave a gap in the history.
    const checkpoint = run.checkpoint ? this.store.latestCheckpoint(run.id, run.checkpoint.step) : undefined;
    const fromStep = checkpoint?.step ?? 0;
    // The resumed run redoes every step after the checkpoint: drop their records so history == curve.
    this.store.truncateAfter(run.id, fromStep);
    this.appendLog(run.id, checkpoint ? `[anneal] resuming from checkpoint step ${fromStep}` : '[anneal] no checkpoint yet: starting again from step 0');
    run.checkpoint = checkpoint;
    run.resumes.push({ fromStep, at: now() });
    run.step = fromStep;
    run.status = 'queued';
    run.error = undefined;
    run.endedAt = undefined;
    run.message = checkpoint ? `Queued to resume from step ${fromStep}.` : 'Queued to start again (no checkpoint was written).';
    this.trySave(run);
    this.queue.push(run.id);
    this.emitStatus(run);
    this.pump();
    return run;
  }

  /** Removes a run that is not queued or running, with its folder. */
  delete(id: unknown): void {
    const run = this.get(id);
    if (!isFinalStatus(run.status)) throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} is ${run.status}; stop it first (\`anneal stop ${run.id}\`).`);
    if (this.exports.busy(run.id)) throw new ResponseError(DaemonErrorCodes.InvalidState, `Run ${run.id} is writing its recipe's exports; delete it once they are done.`);
    this.runs.delete(run.id);
    this.store.remove(run.id);
    for (const l of this.listeners) l.deleted?.(run.id);
  }

  /** Graceful shutdown: every running run checkpoints and stops (killed after the stop timeout). */
  async shutdown(): Promise<void> {
    this.closing = true;
    this.queue.length = 0;
    const waits: Promise<void>[] = [];
    waits.push(...this.exports.killAll());
    for (const [id, active] of this.active) {
      active.shutdown = true;
      this.stop(id);
      waits.push(active.exited);
    }
    await Promise.all(waits);
  }

  // ---- internals ------------------------------------------------------------------------------

  private pump(): void {
    while (!this.closing && this.active.size < this.options.maxConcurrentRuns && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const run = this.runs.get(id);
      if (run?.status === 'queued') this.launch(run);
    }
  }

  private launch(run: RunInfo): void {
    const dir = this.store.dir(run.id);
    const job = jobFor(run, dir, this.options.backend);
    run.status = 'running';
    run.phase = 'loading';
    run.startedAt = now();
    run.message = undefined;
    let resolveExited!: () => void;
    const active: ActiveRun = {
      worker: undefined as unknown as WorkerHandle,
      stopRequested: false,
      shutdown: false,
      lastOutput: [],
      exited: new Promise((r) => (resolveExited = r)),
    };
    this.active.set(run.id, active);
    active.worker = launchWorker(this.options.workerPath, job, {
      message: (msg) => this.onWorkerMessage(run, active, msg),
      output: (line, stream) => {
        if (stream === 'stderr') active.lastOutput = [...active.lastOutput.slice(-4), line];
        this.appendLog(run.id, line);
      },
      exit: (code, signal) => {
        this.onWorkerExit(run, active, code, signal);
        resolveExited();
      },
    }, run.exportDir);
    run.workerPid = active.worker.pid;
    this.trySave(run);
    this.emitStatus(run);
  }

  private onWorkerMessage(run: RunInfo, active: ActiveRun, msg: WorkerToDaemon): void {
    switch (msg.type) {
      case 'ready':
        return;
      case 'status':
        run.phase = msg.phase;
        run.message = msg.message;
        run.progress = msg.progress;
        if (msg.totalSteps !== undefined) run.totalSteps = msg.totalSteps;
        if (msg.backend) {
          run.backend = msg.backend;
          // A TRL run's report names another engine, not the backend this daemon's own runs use.
          if (!run.engine) this.lastBackend = msg.backend;
        }
        this.trySave(run);
        this.emitStatus(run);
        return;
      case 'metrics': {
        const record = msg.record;
        if (typeof record?.step !== 'number') return;
        this.held.append(run.id, 'metrics.jsonl', JSON.stringify(record));
        run.step = Math.max(run.step, record.step);
        for (const l of this.listeners) l.metrics(run.id, record);
        return;
      }
      case 'sample':
        this.held.append(run.id, 'samples.jsonl', JSON.stringify(msg.record));
        for (const l of this.listeners) l.sample(run.id, msg.record);
        return;
      case 'log':
        this.appendLog(run.id, msg.line);
        return;
      case 'checkpoint':
        run.checkpoint = { step: msg.step, path: msg.path };
        this.trySave(run);
        this.emitStatus(run);
        return;
      case 'result':
      case 'error':
        active.outcome = msg;
        return;
    }
  }

  private onWorkerExit(run: RunInfo, active: ActiveRun, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(active.killTimer);
    this.active.delete(run.id);
    run.workerPid = undefined;
    const outcome = active.outcome;
    if (outcome?.type === 'result') {
      run.outputDir = outcome.outputDir;
      run.step = Math.max(run.step, outcome.finalStep);
      if (outcome.stopped || active.stopRequested) {
        if (active.shutdown) this.finish(run, 'interrupted', 'The daemon shut down; `anneal resume` continues from the checkpoint it wrote.');
        else this.finish(run, 'stopped', `Stopped at step ${outcome.finalStep}; \`anneal resume ${run.id}\` continues from its checkpoint.`);
      } else {
        run.exportedTo = outcome.exportedTo;
        const copy = outcome.exportedTo ? ` Copied to ${outcome.exportedTo}.` : outcome.exportError ? ` ${outcome.exportError}` : '';
        this.finish(run, 'completed', `Completed ${outcome.finalStep} steps; output in ${outcome.outputDir}.${copy}`);
        this.startExports(run, outcome.outputDir);
      }
    } else if (outcome?.type === 'error') {
      if (outcome.stack) this.appendLog(run.id, outcome.stack);
      this.finish(run, 'failed', outcome.message, outcome.message);
    } else if (active.stopRequested) {
      this.finish(run, active.shutdown ? 'interrupted' : 'stopped', 'Stopped without a final checkpoint; resume continues from the last one written.');
    } else {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = active.lastOutput.filter((l) => l.trim()).slice(-2).join(' | ');
      // A worker that dies of memory says so on stderr (V8, wasm, TensorFlow), or is killed by the
      // system's out-of-memory killer (SIGKILL that nobody here sent); the run log has the estimate.
      const said = /heap out of memory|ENOMEM|Cannot allocate|memory access out of bounds|Got status 6|OOM when allocating|bad_alloc|Aborted\(/i.test(detail);
      const oom = said || signal === 'SIGKILL' ? ` It ${said ? 'ran out of memory' : 'was most likely stopped by the system for using too much memory'}: lower per_device_train_batch_size (raising gradient_accumulation_steps keeps the effective batch) or max_length; the run log has the memory estimate.` : '';
      const error = `The training process ${how}.${oom}${detail ? ` Last output: ${detail}` : ''}`;
      this.finish(run, 'failed', error, error);
    }
    this.pump();
  }

  private finish(run: RunInfo, status: RunInfo['status'], message: string, error?: string): void {
    const degraded = this.held.settle(run.id);
    if (degraded) {
      run.degraded = degraded;
      message = `${message} ${degraded}`;
    }
    run.status = status;
    run.message = message;
    run.progress = undefined;
    run.error = error;
    run.endedAt = now();
    if (status === 'completed') run.phase = 'done';
    this.appendLog(run.id, `[anneal] ${status}: ${message}`);
    this.trySave(run);
    this.emitStatus(run);
  }

  /** The recipe's `export:` block, written from the completed run's output in child processes. */
  private startExports(run: RunInfo, output: string): void {
    const records = run.exports?.filter((r) => r.status === 'pending');
    if (!records?.length) return;
    const changed = () => {
      this.trySave(run);
      this.emitStatus(run);
    };
    const hooks = { log: (line: string) => this.appendLog(run.id, line), changed, marker: { runId: run.id, step: run.step } };
    const started = !this.closing && this.exports.start(run.id, output, run.exports!, hooks, (summary) => {
      run.message = `${run.message} ${summary}`;
      changed();
    });
    // No CLI to run them (a daemon built without one) or shutting down: recorded as failed, with the command.
    if (!started && failUnfinishedExports(run.exports, `anneal export ${run.id}`)) this.trySave(run);
  }

  private armKillTimer(active: ActiveRun): void {
    const ms = this.options.stopTimeoutMs ?? 120_000;
    active.killTimer = setTimeout(() => active.worker.kill(), ms);
    active.killTimer.unref();
  }

  /**
   * A worker left behind by a killed daemon exits on IPC 'disconnect', but only once its current
   * step returns; end it before anyone else writes to the run's folder.
   */
  private killOrphanWorker(run: RunInfo): void {
    const pid = run.workerPid;
    run.workerPid = undefined;
    if (pid && !this.active.has(run.id)) killWorkerProcess(pid);
  }

  private appendLog(id: string, line: string): void {
    this.held.append(id, 'log.txt', line);
    for (const l of this.listeners) l.log(id, line);
  }

  private emitStatus(run: RunInfo): void {
    for (const l of this.listeners) l.status(run);
  }

  private trySave(run: RunInfo): void {
    this.tryWrite(run.id, () => this.store.save(run));
  }

  /** A failed write (disk full) is reported in the daemon log; the run and the daemon carry on. */
  private tryWrite(id: string, write: () => void): void {
    try {
      write();
    } catch (err) {
      this.options.log?.(`[anneal] could not write to run ${id}: ${(err as Error).message}`);
    }
  }
}
