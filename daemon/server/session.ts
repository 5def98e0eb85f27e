// One client connection: the `initialize` handshake, the run requests, and the run streams this
// client subscribed to. A slow or vanished client only loses its own stream.

import { TRAINED_STAGES } from '../engine/stages/trained.ts';
import os from 'node:os';
import type WebSocket from 'ws';
import { ResponseError, type MessageConnection, type NotificationType } from 'vscode-jsonrpc/node';
import {
  DaemonErrorCodes, DeleteRun, GetRun, Initialize, ListRuns, MAX_FRAME_BYTES, PROTOCOL_VERSION, ResumeRun,
  RunLogNotification, RunMetricsNotification, RunSampleNotification, RunStatusNotification, RunsChangedNotification, ScorePairs,
  ScorePairsProgressNotification, StartRun, StopRun, Subscribe, Unsubscribe, type InitializeResult, type SubscribeParams, type SubscribeResult,
} from '../../core/protocol/daemon.ts';
import { checkProtocolVersion } from '../../core/protocol/handshake.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { ANNEAL_VERSION } from '../../core/version.ts';
import type { RunManager } from '../runs/manager.ts';
import type { PreparedPipeline, PreparedRun } from '../runs/prepare.ts';
import type { PipelineManager } from '../runs/pipeline.ts';
import { GetPipeline, ListPipelines, PipelineChangedNotification } from '../../core/protocol/pipelines.ts';
import type { BackendProbeResult } from '../runs/backendProbe.ts';
import { connectionOverSocket } from '../client/wsTransport.ts';
import { handleScorePairs, type ScoreDeps } from './scoreRequest.ts';
import { dirname, join } from 'node:path';
import { ExportProgressNotification, ExportRun, type ExportRunResult } from '../../core/protocol/daemon.ts';
import { exportedRecord } from '../runs/recipeExports.ts';
import { handleExport } from './exportRequest.ts';
import { registerGenerate } from './generateRequest.ts';

/** Bytes queued to a client (responses or notifications) before it counts as stuck and is dropped (the run goes on). */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;

export interface SessionContext {
  manager: RunManager;
  /** Pipelines (recipes with `stages:`): their ids are accepted wherever a run id is stopped or resumed. */
  pipelines: PipelineManager;
  stateDir: string;
  maxConcurrentRuns: number;
  /** Validates a `runs/start` request off the event loop (prepareRunOffThread). */
  prepare(params: Record<string, unknown>): Promise<PreparedRun | PreparedPipeline>;
  /** The startup backend probe's result, waiting at most a moment for it while it still runs. */
  backend(): Promise<BackendProbeResult>;
  /** The forced backend, if any. */
  backendForced?: string;
  /** What `pairs/score` needs: the runs, the worker bundle its child runs, the daemon log. */
  scoring: ScoreDeps;
  /** Bytes queued to one client before it is dropped (default 32 MB). */
  maxClientBufferBytes?: number;
  /** The daemon log (stderr): the stack of an internal error goes there, the client gets a sentence. */
  log?: (line: string) => void;
}

/**
 * The answer for an error a handler threw: a ResponseError as it is; a failed write to the state dir
 * (disk full, permissions) as StorageFailed with what to do; anything else as InternalError with one
 * sentence, its stack in the daemon log (never raw text such as a stack overflow's message).
 */
export function toResponseError(err: unknown, method: string, stateDir: string, log: (line: string) => void = () => {}): ResponseError<unknown> {
  if (err instanceof ResponseError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ResponseError(DaemonErrorCodes.StorageFailed, `The disk holding the daemon's state dir (${stateDir}) is full; free some space and try again.`);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ResponseError(DaemonErrorCodes.StorageFailed, `The daemon cannot write to its state dir (${stateDir}): ${code === 'EROFS' ? 'the file system is read-only' : 'permission denied'}; make it writable and try again.`);
  }
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') {
    return new ResponseError(DaemonErrorCodes.InternalError, `The daemon is out of ${code === 'ENOMEM' ? 'memory' : 'file handles'} right now; try again in a moment, or restart it if this persists.`);
  }
  log(`[anneal] internal error in ${method}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return new ResponseError(DaemonErrorCodes.InternalError, `The daemon could not handle ${method} because of an internal error; the daemon log has the details.`);
}

interface Subscription {
  logs: boolean;
}

function requireObject(params: unknown): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new ResponseError(DaemonErrorCodes.InvalidParams, 'Invalid params: expected an object with named fields.');
  }
  return params as Record<string, unknown>;
}

/** Serves one WebSocket until it closes. */
export function serveSession(socket: WebSocket, ctx: SessionContext): void {
  const maxBuffered = ctx.maxClientBufferBytes ?? MAX_BUFFERED_BYTES;
  const connection: MessageConnection = connectionOverSocket(socket, undefined, maxBuffered);
  const subscriptions = new Map<string, Subscription>();
  /** This connection's `pairs/score` children, aborted when it closes. */
  const scorings = new Set<AbortController>();
  let initialized = false;

  const notify = <P>(type: NotificationType<P>, params: P) => {
    if (socket.bufferedAmount > maxBuffered) {
      socket.close(1008, 'client too slow to read its stream');
      return;
    }
    // Write errors are the peer's problem; never an unhandled rejection in the daemon.
    // (The cast only bridges vscode-jsonrpc's conditional param type for a generic P.)
    connection.sendNotification(type, params as never).catch(() => {});
  };

  const unlisten = ctx.manager.addListener({
    status(run) {
      if (initialized) notify(RunsChangedNotification.type, { run });
      if (subscriptions.has(run.id)) notify(RunStatusNotification.type, { run });
    },
    deleted(runId) {
      if (initialized) notify(RunsChangedNotification.type, { deleted: runId });
    },
    metrics(runId, record) {
      if (subscriptions.has(runId)) notify(RunMetricsNotification.type, { runId, record });
    },
    sample(runId, record) {
      if (subscriptions.has(runId)) notify(RunSampleNotification.type, { runId, record });
    },
    log(runId, line) {
      if (subscriptions.get(runId)?.logs) notify(RunLogNotification.type, { runId, line });
    },
  });
  const unlistenPipelines = ctx.pipelines.addListener((pipeline) => {
    if (initialized) notify(PipelineChangedNotification.type, { pipeline });
  });

  /** Turns whatever a handler throws (or rejects with) into a ResponseError a client can act on. */
  const answered = <P, R>(method: string, handler: (params: P) => R | Promise<R>) =>
    async (params: P): Promise<R> => {
      try {
        return await handler(params);
      } catch (err) {
        throw toResponseError(err, method, ctx.stateDir, ctx.log);
      }
    };

  /** Wraps a handler so it refuses to run before `initialize`, and answers its errors with proper codes. */
  const guarded = <P, R>(method: string, handler: (params: P) => R | Promise<R>) =>
    answered(method, (params: P) => {
      if (!initialized) throw new ResponseError(DaemonErrorCodes.NotInitialized, 'Send `initialize` first.');
      return handler(params);
    });

  connection.onRequest(Initialize.type, answered(Initialize.method, async (params: unknown) => {
    const p = requireObject(params);
    const mismatch = checkProtocolVersion(p.protocolVersion, ANNEAL_VERSION);
    if (mismatch) return new ResponseError(mismatch.code, mismatch.message, mismatch.data);
    initialized = true;
    const probe = await ctx.backend();
    const result: InitializeResult = {
      protocolVersion: PROTOCOL_VERSION,
      daemonVersion: ANNEAL_VERSION,
      pid: process.pid,
      stateDir: ctx.stateDir,
      // A run's own report is newer than the startup probe's.
      backend: ctx.manager.lastBackend ?? probe.backend,
      backendProbe: probe.state,
      ...(probe.error ? { backendError: probe.error } : {}),
      ...(ctx.backendForced ? { backendForced: ctx.backendForced } : {}),
      device: { platform: process.platform, arch: process.arch, cpus: os.cpus().length, memoryBytes: os.totalmem(), node: process.version },
      capabilities: { stages: [...TRAINED_STAGES], maxConcurrentRuns: ctx.maxConcurrentRuns, maxFrameBytes: MAX_FRAME_BYTES },
    };
    return result;
  }));

  // The checks run in a child process (CheckRunner); the run is created only once they pass.
  // A recipe with `stages:` starts a pipeline: the answer is its first stage's run and the pipeline.
  connection.onRequest(StartRun.type, guarded(StartRun.method, async (params) => {
    const prepared = await ctx.prepare(requireObject(params));
    return 'kind' in prepared ? ctx.pipelines.start(prepared) : { run: ctx.manager.start(prepared) };
  }));
  connection.onRequest(StopRun.type, guarded(StopRun.method, (params) => {
    const p = requireObject(params);
    return ctx.pipelines.has(p.runId) ? ctx.pipelines.stop(p.runId, p.force === true) : { run: ctx.manager.stop(p.runId, p.force === true) };
  }));
  connection.onRequest(ResumeRun.type, guarded(ResumeRun.method, (params) => {
    const runId = requireObject(params).runId;
    return ctx.pipelines.has(runId) ? ctx.pipelines.resume(runId) : { run: ctx.manager.resume(runId) };
  }));
  connection.onRequest(ListPipelines.type, guarded(ListPipelines.method, () => ({ pipelines: ctx.pipelines.list() })));
  connection.onRequest(GetPipeline.type, guarded(GetPipeline.method, (params) => {
    const p = requireObject(params);
    return { pipeline: ctx.pipelines.get(p.pipelineId), ...(p.log === true ? { log: ctx.pipelines.log(p.pipelineId) } : {}) };
  }));
  connection.onRequest(ListRuns.type, guarded(ListRuns.method, () => ({ runs: ctx.manager.list() })));
  connection.onRequest(GetRun.type, guarded(GetRun.method, (params) => ({ run: ctx.manager.get(requireObject(params).runId) })));
  connection.onRequest(DeleteRun.type, guarded(DeleteRun.method, (params) => {
    const runId = requireObject(params).runId;
    subscriptions.delete(String(runId));
    ctx.manager.delete(runId);
    return {};
  }));
  connection.onRequest(Unsubscribe.type, guarded(Unsubscribe.method, (params) => {
    subscriptions.delete(String(requireObject(params).runId));
    return {};
  }));
  connection.onRequest(Subscribe.type, guarded(Subscribe.method, (params) => subscribe(requireObject(params) as unknown as SubscribeParams)));
  connection.onRequest(ScorePairs.type, (params, token) => {
    if (!initialized) throw new ResponseError(DaemonErrorCodes.NotInitialized, 'Send `initialize` first.');
    return handleScorePairs(params, token, ctx.scoring, scorings, (p) => notify(ScorePairsProgressNotification.type, p));
  });
  // The export runs `anneal export --json` (dist/cli.js, beside the worker bundle) in a child.
  connection.onRequest(ExportRun.type, (params, token) => {
    if (!initialized) throw new ResponseError(DaemonErrorCodes.NotInitialized, 'Send `initialize` first.');
    const deps = { cliPath: join(dirname(ctx.scoring.workerPath), 'cli.js'), stateDir: ctx.stateDir, getRun: (id: string) => ctx.manager.get(id), log: ctx.log ?? (() => {}), recorded: (id: string, result: ExportRunResult) => ctx.manager.recordExport(id, exportedRecord(result)) };
    return handleExport(params, token, deps, (p) => notify(ExportProgressNotification.type, p));
  });

  registerGenerate(connection, () => initialized, { runs: ctx.scoring.runs, workerPath: ctx.scoring.workerPath, log: ctx.log ?? (() => {}) });

  /**
   * Replays the stored history, then registers the live stream, all in one tick of the event loop:
   * events are appended to disk before they are dispatched, so nothing is missed or sent twice.
   */
  function subscribe(p: SubscribeParams): SubscribeResult {
    const run: RunInfo = ctx.manager.get(p.runId);
    if (p.fromStep !== undefined && (typeof p.fromStep !== 'number' || !Number.isFinite(p.fromStep))) {
      throw new ResponseError(DaemonErrorCodes.InvalidParams, 'Invalid params: fromStep must be a number.');
    }
    const logs = p.logs === true;
    const replayed = { metrics: 0, samples: 0, logs: 0 };
    if (p.fromStep !== undefined) {
      const history = ctx.manager.store.history(run.id);
      for (const record of history.metrics) {
        if (record.step < p.fromStep) continue;
        notify(RunMetricsNotification.type, { runId: run.id, record });
        replayed.metrics++;
      }
      for (const record of history.samples) {
        if (record.step < p.fromStep) continue;
        notify(RunSampleNotification.type, { runId: run.id, record });
        replayed.samples++;
      }
      if (logs) {
        for (const line of history.logs) notify(RunLogNotification.type, { runId: run.id, line });
        replayed.logs = history.logs.length;
      }
    }
    subscriptions.set(run.id, { logs });
    return { run, replayed };
  }

  connection.onClose(() => {
    for (const scoring of scorings) scoring.abort();
    unlisten();
    unlistenPipelines();
    subscriptions.clear();
    connection.dispose();
  });
  connection.onError(() => {
    /* a broken frame or write; the reader already answered garbage */
  });
  connection.listen();
}
