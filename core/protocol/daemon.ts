// The daemon's JSON-RPC 2.0 protocol (over WebSocket, one message per frame). Every request and
// notification is declared here once, with its method literal, typed params/result and the side that
// sends it; the daemon, the CLI, the extension and the dashboard all import these declarations.

import { NotificationType, ParameterStructures, RequestType } from 'vscode-jsonrpc';
import type { Engine, SamplesConfig, Stage, TrainingArguments } from '../recipe/types.ts';
import type { BackendInfo, FileDiagnostics, LlamaCheck, MetricRecord, RunInfo, SampleRecord } from './runs.ts';
import type { PipelineInfo } from './pipelines.ts';
import type { ScorePairsParams, ScorePairsProgress, ScorePairsResult } from './scorePairs.ts';

/** Bumped on any incompatible change; `initialize` refuses a client speaking another version. */
export const PROTOCOL_VERSION = 1;

/** Largest frame the daemon accepts (WebSocket maxPayload); bigger frames close the socket with 1009. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Application error codes (JSON-RPC reserves -32768..-32000 for itself; ours sit just above). */
export const DaemonErrorCodes = {
  /** The client's protocol version differs from the daemon's; data: ProtocolMismatchData. */
  ProtocolMismatch: -31001,
  /** A request came before `initialize`. */
  NotInitialized: -31002,
  /** The run id is malformed. */
  InvalidRunId: -31003,
  /** No run with that id. */
  RunNotFound: -31004,
  /** The data or recipe has errors; data: InvalidInputData (the offending lines). */
  InvalidInput: -31005,
  /** The run is in a state that does not allow the request (e.g. deleting a running run). */
  InvalidState: -31006,
  /** Scoring pairs failed: the message says why (data that is not preference pairs, a model with nothing to score with). */
  ScoringFailed: -31007,
  /** An export failed: the message says why (a run without weights, an unsupported quantization, a non-empty out folder). */
  ExportFailed: -31011,
  /** The daemon is at its limit of concurrent work of this kind (runs/start checks); try again shortly. */
  Busy: -31008,
  /** The runs/start checks could not finish (time limit, memory): the message says what to change. */
  CheckFailed: -31009,
  /** The daemon could not write to its state dir (disk full, permissions): the message says what to free or fix. */
  StorageFailed: -31010,
  /** A request the daemon could not handle for a reason of its own; the daemon log has the details. */
  InternalError: -32603,
  /** The params are missing or of the wrong type. */
  InvalidParams: -32602,
  /** The client cancelled the request (JSON-RPC's RequestCancelled). */
  RequestCancelled: -32800,
} as const;

export interface ProtocolMismatchData {
  daemonProtocolVersion: number;
  clientProtocolVersion: unknown;
  daemonVersion: string;
}

export interface InvalidInputData {
  files: FileDiagnostics[];
}

/** The host the daemon reports (the daemon itself never loads tensors). */
export interface DeviceInfo {
  platform: string;
  arch: string;
  cpus: number;
  memoryBytes: number;
  node: string;
}

// ---- initialize -------------------------------------------------------------------------------

export interface InitializeParams {
  protocolVersion: number;
  clientName: string;
  clientVersion?: string;
}

/** probing: the startup probe has not answered yet; done: `backend` is set; failed: see `backendError`. */
export type BackendProbeState = 'probing' | 'done' | 'failed';

export interface InitializeResult {
  protocolVersion: number;
  daemonVersion: string;
  pid: number;
  stateDir: string;
  /**
   * The backend runs on this machine get and why the faster ones were skipped, probed in a child
   * process when the daemon starts (a run's own report wins when it differs). null while the probe
   * runs (`backendProbe: 'probing'`) or when it failed (`backendError` says why).
   */
  backend: BackendInfo | null;
  /** Where the startup probe stands; absent from daemons older than the probe. */
  backendProbe?: BackendProbeState;
  /** Why the probe found no backend (e.g. a forced backend that is unavailable), in one sentence. */
  backendError?: string;
  /** The backend the daemon was told to use (`anneal daemon --backend` / ANNEAL_BACKEND), if any. */
  backendForced?: string;
  device: DeviceInfo;
  capabilities: {
    /** Stages this daemon can train, e.g. ["sft"]. */
    stages: Stage[];
    maxConcurrentRuns: number;
    maxFrameBytes: number;
  };
}

/** Client -> daemon. Must be the first request on a connection; checks the protocol version. */
export namespace Initialize {
  export const method = 'initialize' as const;
  export const type = new RequestType<InitializeParams, InitializeResult, ProtocolMismatchData>(method, ParameterStructures.byName);
}

// ---- runs -------------------------------------------------------------------------------------

export interface StartRunParams {
  stage: Stage;
  /** Absolute path of a recipe (`*.anneal.yaml` / `.json`); its data and model are used unless overridden. */
  recipe?: string;
  /** Absolute paths; required when no recipe is given. */
  data?: { train: string; eval?: string };
  /** `tiny`, an absolute model folder, or a Hub id `org/name[@revision]`; default `tiny` without a recipe. */
  model?: string;
  /** TrainingArguments overriding the recipe's (e.g. `{ max_steps: 50 }` from `--max-steps`). */
  args?: Partial<TrainingArguments>;
  /** Only without a recipe (a recipe says its own `samples:`): prompts to sample from during training. */
  samples?: Partial<SamplesConfig>;
  /** Overrides the recipe's `engine:` (`anneal train --engine trl`): `trl` trains on TRL + Accelerate. */
  engine?: Engine;
  /**
   * The TRL engine's Python when the recipe names none (the editor's `anneal.python` setting): a path
   * or a command on PATH. The recipe's `python:` wins; without either, ANNEAL_PYTHON, a venv, python3.
   */
  python?: string;
}

export interface RunResult {
  run: RunInfo;
  /** When the request named a pipeline or started one (a recipe with `stages:`): the pipeline; `run` is its current stage's run. */
  pipeline?: PipelineInfo;
}

export interface RunIdParams {
  runId: string;
}

/** Client -> daemon. Validates the data and recipe, then queues a run; errors carry InvalidInputData. */
export namespace StartRun {
  export const method = 'runs/start' as const;
  export const type = new RequestType<StartRunParams, RunResult, InvalidInputData>(method, ParameterStructures.byName);
}

export interface StopRunParams extends RunIdParams {
  /** Kill the worker now instead of letting the engine checkpoint first. */
  force?: boolean;
}

/** Client -> daemon. Asks a running run to checkpoint and stop (a queued run is just dequeued). */
export namespace StopRun {
  export const method = 'runs/stop' as const;
  export const type = new RequestType<StopRunParams, RunResult, void>(method, ParameterStructures.byName);
}

/** Client -> daemon. Queues a stopped, failed or interrupted run again from its last checkpoint. */
export namespace ResumeRun {
  export const method = 'runs/resume' as const;
  export const type = new RequestType<RunIdParams, RunResult, void>(method, ParameterStructures.byName);
}

export interface ListRunsResult {
  runs: RunInfo[];
}

/** Client -> daemon. Every run in the state dir, newest first. */
export namespace ListRuns {
  export const method = 'runs/list' as const;
  export const type = new RequestType<Record<string, never>, ListRunsResult, void>(method, ParameterStructures.byName);
}

/** Client -> daemon. One run's record. */
export namespace GetRun {
  export const method = 'runs/get' as const;
  export const type = new RequestType<RunIdParams, RunResult, void>(method, ParameterStructures.byName);
}

export interface SubscribeParams extends RunIdParams {
  /** Replay stored metrics and samples with step >= fromStep before the live stream; omit for live only. */
  fromStep?: number;
  /** Also stream `run/log` lines (and replay the whole log when fromStep is given). */
  logs?: boolean;
}

export interface SubscribeResult {
  run: RunInfo;
  /** How many notifications of each kind were replayed; they are all sent before this result. */
  replayed: { metrics: number; samples: number; logs: number };
}

/**
 * Client -> daemon. Streams a run's notifications to this connection: the stored history from
 * `fromStep` first (sent before the result), then everything new, until unsubscribe or disconnect.
 */
export namespace Subscribe {
  export const method = 'runs/subscribe' as const;
  export const type = new RequestType<SubscribeParams, SubscribeResult, void>(method, ParameterStructures.byName);
}

/** Client -> daemon. Ends this connection's stream of a run. */
export namespace Unsubscribe {
  export const method = 'runs/unsubscribe' as const;
  export const type = new RequestType<RunIdParams, Record<string, never>, void>(method, ParameterStructures.byName);
}

/** Client -> daemon. Removes a finished run and its folder. */
export namespace DeleteRun {
  export const method = 'runs/delete' as const;
  export const type = new RequestType<RunIdParams, Record<string, never>, void>(method, ParameterStructures.byName);
}

// ---- notifications (daemon -> subscribed clients) -----------------------------------------------

/** Daemon -> client. The run's record changed (status, phase, checkpoint, error). */
export namespace RunStatusNotification {
  export const method = 'run/status' as const;
  export const type = new NotificationType<{ run: RunInfo }>(method, ParameterStructures.byName);
}

/** Daemon -> client. One logged step. */
export namespace RunMetricsNotification {
  export const method = 'run/metrics' as const;
  export const type = new NotificationType<{ runId: string; record: MetricRecord }>(method, ParameterStructures.byName);
}

/** Daemon -> client. One sampled completion. */
export namespace RunSampleNotification {
  export const method = 'run/sample' as const;
  export const type = new NotificationType<{ runId: string; record: SampleRecord }>(method, ParameterStructures.byName);
}

/** Daemon -> client. One line of the run's log (engine messages and the worker's stderr). */
export namespace RunLogNotification {
  export const method = 'run/log' as const;
  export const type = new NotificationType<{ runId: string; line: string }>(method, ParameterStructures.byName);
}

/**
 * Daemon -> every initialized client, subscribed or not. A run was created, changed status or phase,
 * or was deleted (`deleted` holds its id), so run lists (the editor's Runs view, the dashboard's run
 * picker) stay current without polling, whichever client started the run.
 */
export namespace RunsChangedNotification {
  export const method = 'runs/changed' as const;
  export const type = new NotificationType<{ run?: RunInfo; deleted?: string }>(method, ParameterStructures.byName);
}

// ---- pair scoring -----------------------------------------------------------------------------

/**
 * Client -> daemon. Scores every pair of a preference file with a run's output (or a model folder) in
 * a short-lived child process: reward-model scores, or the implicit reward against the base. Progress
 * arrives as `pairs/scoreProgress` when `progressToken` is set; cancelling the request (or closing the
 * connection) ends the child. Errors: RunNotFound, InvalidState (run not completed), ScoringFailed.
 */
export namespace ScorePairs {
  export const method = 'pairs/score' as const;
  export const type = new RequestType<ScorePairsParams, ScorePairsResult, void>(method, ParameterStructures.byName);
}

/** Daemon -> the client that asked. How far a `pairs/score` request is (pairs done of total). */
export namespace ScorePairsProgressNotification {
  export const method = 'pairs/scoreProgress' as const;
  export const type = new NotificationType<ScorePairsProgress>(method, ParameterStructures.byName);
}

// ---- export -----------------------------------------------------------------------------------

export type ExportFormat = 'peft' | 'merged' | 'gguf' | 'gguf-lora';

export interface ExportRunParams {
  /** A run id, or an absolute folder on the daemon's machine: a run folder, its output/ or a checkpoint, a PEFT adapter or a model folder. */
  run: string;
  format: ExportFormat;
  /** GGUF only: f16 (default), q8_0, ... (the daemon refuses an unsupported one with the list). */
  quant?: string;
  /** Absolute folder to create (absent or empty); default `<run folder>/exports/<format>[-<quant>]`. */
  out?: string;
  /** When set, the daemon sends `runs/exportProgress` notifications carrying this token. */
  progressToken?: string;
}

export interface ExportRunResult {
  format: ExportFormat;
  quant?: string;
  /** The folder written (on the daemon's machine). */
  outDir: string;
  /** File names in outDir. */
  files: string[];
  /** What was exported, in words ("run sft-…", or its newest checkpoint). */
  source: string;
  runId?: string;
  /** Set when a run without final output was exported from its newest checkpoint. */
  checkpointStep?: number;
  /** The LoRA adapter folded into the base (merged, gguf). */
  merged?: { modules: number; r: number; alpha: number; base: string };
  /** The GGUF file's path, for gguf. */
  gguf?: string;
  /** What the user should know (a matrix kept in F16, a Modelfile without TEMPLATE, a fallback chat template). */
  notes: string[];
  /** A GGUF's check in llama.cpp, when it ran (daemon/export/llamaCheck.ts). */
  llamaCheck?: LlamaCheck;
}

export interface ExportProgress {
  /** The request's `progressToken`. */
  token: string;
  phase: 'loading' | 'merging' | 'writing';
  message: string;
  /** Tensors written of `total`, while the file is written. */
  done?: number;
  total?: number;
}

/**
 * Client -> daemon. Exports a run's weights (its output, else its newest checkpoint) as its PEFT
 * adapter, a merged Hugging Face folder, or a GGUF with an Ollama Modelfile, in a child process.
 * Cancelling the request ends the child. Errors: InvalidParams, RunNotFound, ExportFailed (the
 * message says what to change: a run without weights, an unsupported quant, a non-empty out folder).
 */
export namespace ExportRun {
  export const method = 'runs/export' as const;
  export const type = new RequestType<ExportRunParams, ExportRunResult, void>(method, ParameterStructures.byName);
}

/** Daemon -> the client that asked. What a `runs/export` request is doing. */
export namespace ExportProgressNotification {
  export const method = 'runs/exportProgress' as const;
  export const type = new NotificationType<ExportProgress>(method, ParameterStructures.byName);
}
