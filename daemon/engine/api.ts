// The boundary between the run machinery (daemon/runs: process, files, IPC) and the engine (tensors).
// The engine is a library: it gets a job and callbacks, and never touches sockets or the run store.

import type { SampleRecord } from '../../core/protocol/runs.ts';
import type { LoraConfig, RewardSpec, SamplesConfig, Stage, TrainingArguments } from '../../core/recipe/types.ts';

/** Which tfjs backend was chosen and why the ones above it on the ladder were skipped. */
export interface BackendReport {
  name: string; // 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'wasm' | 'cpu'
  device: string; // human description, e.g. "CUDA (NVIDIA H100)", "wasm SIMD, 1 thread"
  skipped: { name: string; reason: string }[];
}

export interface TrainJob {
  /** The recipe's stage; the engine refuses one it does not train (stages/index.ts). */
  stage: Stage;
  /** The run's folder; the engine writes `checkpoints/step-N/` (atomically) and `output/` inside it. */
  runDir: string;
  /** `tiny`, an absolute path to a Hugging Face model folder, or a Hub id `org/name[@revision]` (daemon/models/hub.ts). */
  model: string;
  data: { train: string; eval?: string };
  args: TrainingArguments;
  /** null = full fine-tuning. */
  lora: LoraConfig | null;
  samples?: SamplesConfig;
  /** GRPO's reward functions: built-in names (core/rewards) or modules with absolute paths. */
  rewards?: RewardSpec[];
  /**
   * The recipe's `gates:` block as written (core/gates reads it onto seed 004's defaults). Written:
   * its rollback conditions stop the run at once. Absent: the defaults are only reported at the end.
   */
  gates?: unknown;
  /** Continue from this checkpoint folder: same data order, same RNG stream, same loss curve. */
  resumeFrom?: string;
  /** Force a backend instead of walking the ladder. */
  backend?: string;
  /** `args.gradient_checkpointing` is the quick start's: off when a step fits without it (RunInfo.autoCheckpointing). */
  autoCheckpointing?: boolean;
}

export interface TrainEvents {
  /** `progress`: bytes of a model download the message describes (absent otherwise). */
  status(s: { phase: 'loading' | 'training' | 'saving' | 'done'; message?: string; progress?: { done: number; total: number }; totalSteps?: number; backend?: BackendReport }): void;
  /** TRL metric names: loss, learning_rate, grad_norm, epoch, num_tokens, the stage's own (mean_token_accuracy, rewards/margins, ...), eval/..., train/tokens_per_second. */
  metrics(m: { step: number; [name: string]: number }): void;
  sample(s: SampleRecord): void;
  log(line: string): void;
  checkpoint(c: { step: number; path: string }): void;
}

export interface TrainResult {
  finalStep: number;
  outputDir: string;
  /** True when the signal stopped it (a checkpoint of the last step was written first). */
  stopped: boolean;
}

/** Implemented in daemon/engine/loop.ts. */
export type Train = (job: TrainJob, events: TrainEvents, signal: AbortSignal) => Promise<TrainResult>;
