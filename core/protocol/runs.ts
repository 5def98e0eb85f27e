// The data a run is made of, as the daemon stores it and every client sees it: one shape for the
// run's record (`run.json`), its metrics (`metrics.jsonl`) and its samples (`samples.jsonl`).

import type { Diagnostic } from '../diagnostics.ts';
import type { RunPipelineRef } from './pipelines.ts';
import type { RecipeExportFormat } from '../recipe/exportBlock.ts';
import type { AccelerateLaunch, LoraConfig, RewardSpec, SamplesConfig, Stage, TrainingArguments } from '../recipe/types.ts';

/**
 * queued -> running -> completed | failed | stopped; `stopping` while a stop is checkpointing;
 * `interrupted` when the daemon died under a running run (resume continues from its last checkpoint).
 */
export type RunStatus = 'queued' | 'running' | 'stopping' | 'completed' | 'failed' | 'stopped' | 'interrupted';

/** Statuses a run never leaves by itself. */
export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'stopped', 'interrupted'];

/** True when the run is over (it may still be resumed, unless it completed). */
export function isFinalStatus(status: RunStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** What the engine says it is doing inside a running run. */
export type RunPhase = 'loading' | 'training' | 'saving' | 'done';

/** How far a long step of the current phase is (a model download: bytes), for a progress bar. */
export interface PhaseProgress {
  done: number;
  total: number;
}

/** Which tensor backend a run got and why the faster ones were skipped (mirrors the engine's report). */
export interface BackendInfo {
  name: string;
  device: string;
  skipped: { name: string; reason: string }[];
}

/** How a run on the TRL engine is launched: the Python to use and Accelerate's settings, as the recipe says. */
export interface TrlEngineSettings {
  name: 'trl';
  /** The recipe's `python:` (absolute when it was a path); absent: ANNEAL_PYTHON, a venv found, python3. */
  python?: string;
  accelerate?: Partial<AccelerateLaunch>;
  /** The recipe's folder (a project `.venv` there is one of the Pythons tried). */
  recipeDir?: string;
}

/** One logged step. Names follow TRL: loss, learning_rate, grad_norm, epoch, num_tokens, eval/loss, ... */
export interface MetricRecord {
  step: number;
  [name: string]: number;
}

/** A completion sampled from the model during training. */
export interface SampleRecord {
  step: number;
  prompt: string;
  completion: string;
  /** Online RL (GRPO/PPO): how this completion, one of its prompt's group, was scored. */
  scored?: ScoredCompletion;
}

/**
 * One completion of a GRPO/PPO generation batch. The records of a step that share `group` are one
 * prompt's completions; `rewards` holds each reward function's score under its name (null: it had
 * no opinion, or failed with `error`).
 */
export interface ScoredCompletion {
  /** The prompt's index among the step's groups (0-based). */
  group: number;
  rewards: Record<string, number | null>;
  /** The weighted total the advantage was computed from (null when every reward was null). */
  reward: number | null;
  advantage: number;
  /** Completion tokens, the stop token included. */
  length: number;
  /** Cut at max_completion_length without a stop token. */
  truncated: boolean;
  /** A reward function's failure on this completion's call, its message. */
  error?: string;
}

/** A checkpoint the engine finished writing (the folder is complete once it is reported). */
export interface CheckpointInfo {
  step: number;
  path: string;
}

/** The record of one run (`<stateDir>/runs/<id>/run.json`). Unknown fields are kept and ignored. */
export interface RunInfo {
  id: string;
  stage: Stage;
  status: RunStatus;
  phase?: RunPhase;
  /** The engine's latest status message, or why the run failed. */
  message?: string;
  /** Progress of the step the message names (a model download), while there is one. */
  progress?: PhaseProgress;
  /** The error a failed run ended with, in one sentence. */
  error?: string;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  /** `tiny` or an absolute model folder. */
  model: string;
  data: { train: string; eval?: string };
  /** The recipe file the run came from, when one was given. */
  recipe?: string;
  args: TrainingArguments;
  lora: LoraConfig | null;
  samples?: SamplesConfig;
  /** GRPO's reward functions (built-in names, or modules with absolute paths). */
  rewards?: RewardSpec[];
  /** The recipe's `gates:` block as written (the engine reads it onto seed 004's defaults; core/gates). */
  gates?: unknown;
  /** Absent: Anneal's engine. `trl`: TRL + Accelerate in a Python environment (daemon/trl), with its settings. */
  engine?: TrlEngineSettings;
  /** The pipeline this run is a stage of: "stage 2/3 of pipeline X". */
  pipeline?: RunPipelineRef;
  /**
   * A recipe-less run on a pretrained model: its `gradient_checkpointing` was the quick start's, so the
   * engine turns it off when a step fits in memory without recomputing layers (and says so in the log).
   */
  autoCheckpointing?: boolean;
  /** The last step with logged metrics (0 before the first). */
  step: number;
  totalSteps?: number;
  checkpoint?: CheckpointInfo;
  backend?: BackendInfo;
  outputDir?: string;
  /** The recipe's `output_dir` (absolute): the final output is copied there when the run completes. */
  exportDir?: string;
  /** Where the final output was copied (set once the copy is complete; `outputDir` stays the source). */
  exportedTo?: string;
  /** The recipe's `export:` block: each export and what became of it (written once the run completes). */
  exports?: RecipeExportRecord[];
  /** The worker process while the run trains (lets a restarted daemon end an orphaned worker). */
  workerPid?: number;
  /** Each resume: the checkpoint step it continued from. */
  resumes: { fromStep: number; at: string }[];
  /**
   * Set when part of the run's record could not be kept (the disk stayed full: metrics, samples or log
   * lines lost), in one sentence; the trained output itself is unaffected. Absent for a whole record.
   */
  degraded?: string;
}

/** The diagnostics found in one file (same shape as `anneal validate` reports). */
export interface FileDiagnostics {
  file: string;
  diagnostics: Diagnostic[];
}

/**
 * One entry of a recipe's `export:` block and what became of it: written by `anneal export` in a child
 * process once the run (or the pipeline's result) is complete. A failed export leaves the run completed.
 */
export interface RecipeExportRecord {
  format: RecipeExportFormat;
  /** gguf only (the exporter's default f16 when absent). */
  quant?: string;
  /** The folder written (absolute): the recipe's `out`, else `exports/<format>[-<quant>]` in the run's (pipeline's) folder. */
  out: string;
  status: 'pending' | 'running' | 'done' | 'failed';
  /** The files written into `out`, once done. */
  files?: string[];
  /** Why it failed, in one sentence. */
  error?: string;
  /** A GGUF's check by llama.cpp once written (daemon/export/llamaCheck.ts). */
  llamaCheck?: LlamaCheck;
}

/**
 * llama.cpp (node-llama-cpp) on an exported GGUF: its greedy answers to the sample prompts, through the
 * file's own chat template, beside Anneal's greedy answers from the same file.
 */
export interface LlamaCheck {
  /** same: every answer equal; differ: one or more differ; skipped: llama.cpp is not available here; failed: the check itself broke. */
  status: 'same' | 'differ' | 'skipped' | 'failed';
  /** For a terminal: "llama.cpp gives Anneal's answers on 3/3 prompts", then what differs, or why it was skipped. */
  summary: string;
  prompts?: LlamaCheckPrompt[];
}

export interface LlamaCheckPrompt {
  prompt: string;
  anneal: string;
  llamaCpp: string;
  same: boolean;
  /** Where the token streams part: the token index, each side's token, and Anneal's logit of its own token minus that of llama.cpp's there (a small margin is a near tie). */
  firstDifference?: { index: number; anneal: string; llamaCpp: string; margin: number };
  /** Whether Anneal's answer from the GGUF equals the trained model's final sample (undefined when it was not sampled greedily). */
  sameAsTrained?: boolean;
}
