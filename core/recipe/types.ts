// Recipe shape (`*.anneal.yaml` / `.json`). Hyperparameter keys are TRL's names so a recipe can be
// handed to TRL unchanged; Anneal-only keys (model, stage, data, lora, samples, rewards, gates) sit
// beside them.

import type { RecipeExport } from './exportBlock.ts';

export type Stage = 'sft' | 'cpt' | 'dpo' | 'kto' | 'orpo' | 'cpo' | 'simpo' | 'reward' | 'grpo' | 'ppo';

export interface LoraConfig {
  r: number;
  alpha: number;
  dropout: number;
  /** HF module names, e.g. ["q_proj", "v_proj"]; "all-linear" targets every linear layer. */
  target_modules: string[] | 'all-linear';
}

export interface SamplesConfig {
  /** Prompts to complete during training; each is a user turn (string) or a message list. */
  prompts: (string | { role: string; content: string }[])[];
  /** Sample every N optimizer steps. */
  every_steps: number;
  max_new_tokens: number;
  temperature: number;
  top_p: number;
}

/** TRL-named training arguments. Every field optional in the file; defaults filled by core/recipe. */
export interface TrainingArguments {
  learning_rate: number;
  per_device_train_batch_size: number;
  per_device_eval_batch_size: number;
  gradient_accumulation_steps: number;
  num_train_epochs: number;
  /** -1 means "derive from epochs". */
  max_steps: number;
  warmup_steps: number;
  warmup_ratio: number;
  lr_scheduler_type: 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  max_grad_norm: number;
  max_length: number;
  logging_steps: number;
  eval_steps: number;
  save_steps: number;
  /** Checkpoints kept (the newest, and the best by eval loss when there is one); 0 keeps all. TRL's name. */
  save_total_limit: number;
  /** A checkpoint also once this many minutes of training passed since the last one; 0: only save_steps. */
  save_minutes: number;
  /** Eval prompts answered at each evaluation to measure KL, diversity and win rate (Anneal only); 0: none. */
  eval_generations?: number;
  seed: number;
  packing: boolean;
  completion_only_loss: boolean;
  assistant_only_loss: boolean;
  /** Recompute each layer in the backward pass instead of keeping its activations: memory for time. */
  gradient_checkpointing: boolean;
  /** TRL's ModelConfig key (QLoRA): keep the frozen base's linear weights in 4-bit blocks; needs LoRA. */
  load_in_4bit: boolean;
  /** TRL's preference stages: no dropout anywhere (LoRA's included), so policy and reference compare like for like. */
  disable_dropout?: boolean;
  // Preference and RL stages.
  beta?: number;
  /** One loss, or (DPO) several whose weighted sum is the loss (MPO). */
  loss_type?: string | string[];
  loss_weights?: number[];
  label_smoothing?: number;
  f_divergence_type?: string;
  f_alpha_divergence_coef?: number;
  discopop_tau?: number;
  /** KTO: weights of the desirable and undesirable examples' losses. */
  desirable_weight?: number;
  undesirable_weight?: number;
  /** CPO/SimPO: weight of the NLL on the chosen completions; SimPO's target margin; AlphaPO's alpha. */
  cpo_alpha?: number;
  simpo_gamma?: number;
  alpha?: number;
  /** Reward modelling: pulls the rewards' mean toward 0 (TRL recommends 0.01). */
  center_rewards_coefficient?: number;
  num_generations?: number;
  max_completion_length?: number;
  temperature?: number;
  epsilon?: number;
  epsilon_high?: number;
  top_p?: number;
  top_k?: number;
  scale_rewards?: 'group' | 'batch' | 'none';
  multi_objective_aggregation?: 'sum_then_normalize' | 'normalize_then_sum';
  mask_truncated_completions?: boolean;
  importance_sampling_level?: 'token' | 'sequence';
  // PPO (TRL's PPOConfig).
  /** The trained reward model scoring PPO's responses (a reward run's output), absolute once resolved. */
  reward_model_path?: string;
  response_length?: number;
  kl_coef?: number;
  kl_estimator?: 'k1' | 'k3';
  cliprange?: number;
  cliprange_value?: number;
  vf_coef?: number;
  gamma?: number;
  lam?: number;
  num_ppo_epochs?: number;
  num_mini_batches?: number;
  whiten_rewards?: boolean;
  missing_eos_penalty?: number;
}

/** Which engine trains a recipe: Anneal's own (tfjs, this machine) or TRL + Accelerate in a Python environment. */
export type Engine = 'anneal' | 'trl';

/**
 * How `accelerate launch` starts a TRL run (engine: trl), under Accelerate's own flag names.
 * Several processes on one machine are one per GPU (or, with `cpu`, CPU processes talking over gloo).
 */
export interface AccelerateLaunch {
  num_processes: number;
  num_machines?: number;
  machine_rank?: number;
  main_process_ip?: string;
  main_process_port?: number;
  mixed_precision?: 'no' | 'fp16' | 'bf16' | 'fp8';
  /** Train on CPU even where a GPU is present. */
  cpu?: boolean;
  gpu_ids?: string;
  use_deepspeed?: boolean;
  zero_stage?: 0 | 1 | 2 | 3;
  use_fsdp?: boolean;
  /** An Accelerate config file (absolute once resolved) for everything else. */
  config_file?: string;
}

export interface Recipe extends Partial<TrainingArguments> {
  /** `tiny` (built-in), a Hugging Face folder or .gguf file relative to the recipe, an Ollama `name:tag`, or a Hub id `org/name[@revision]`. */
  model: string;
  stage: Stage;
  data: { train: string; eval?: string };
  output_dir?: string;
  lora?: Partial<LoraConfig> | null;
  samples?: Partial<SamplesConfig>;
  rewards?: unknown[];
  /** TRL's GRPOConfig key: one weight per reward, in order (default all 1); resolved onto each RewardSpec's `weight`. */
  reward_weights?: number[];
  gates?: unknown;
  /** What to write once training is complete (exportBlock.ts): one entry or a list. */
  export?: RecipeExport | RecipeExport[];
  /** `trl`: train on TRL + Accelerate in a Python environment (default `anneal`). */
  engine?: Engine;
  /** engine trl: the Python to use (a path relative to the recipe, or a command on PATH). */
  python?: string;
  /** engine trl: how `accelerate launch` starts the run. */
  accelerate?: Partial<AccelerateLaunch>;
}

/**
 * A GRPO reward function: a built-in name, a module `file` exporting the function, or a trained
 * reward `model` (exactly one of the three; with a file or model, `name` only labels its metrics).
 */
export interface RewardSpec {
  name: string;
  /** Its weight in the sum (absent: 1; 0: logged, not optimised). The recipe's `reward_weights` land here. */
  weight?: number;
  /** Dataset column handed to the function (e.g. the reference `answer`). */
  column?: string;
  /** Absolute path of a JS/TS module exporting the function (resolved from the recipe's folder). */
  file?: string;
  /**
   * A reward model scoring each prompt + completion: an absolute folder (a reward run's output, a
   * *ForSequenceClassification model or a PEFT adapter of one; written relative to the recipe) or a
   * Hub id `org/name[@revision]`.
   */
  model?: string;
  /** A built-in's own settings (core/rewards declares and checks them). */
  options?: Record<string, unknown>;
}

/** A recipe with every default filled and every path absolute: what a run is started from. */
export interface ResolvedRecipe {
  stage: Stage;
  /** `tiny`, an absolute model folder or .gguf file, an Ollama `name:tag`, or a Hub id `org/name[@revision]`. */
  model: string;
  data: { train: string; eval?: string };
  args: TrainingArguments;
  /** null = full fine-tuning. */
  lora: LoraConfig | null;
  samples?: SamplesConfig;
  /** Absolute; absent when the recipe names none (the run folder's output/ is used). */
  output_dir?: string;
  rewards?: RewardSpec[];
  gates?: unknown;
  /** The `export:` block as a list, each `out` absolute. */
  exports?: RecipeExport[];
  /** Present only for `engine: trl` (absent: Anneal's engine). */
  engine?: 'trl';
  /** The TRL engine's Python named by the recipe (absolute when it was a path), whatever `engine` says. */
  python?: string;
  /** The TRL engine's launch settings as written (config_file absolute), whatever `engine` says. */
  accelerate?: Partial<AccelerateLaunch>;
}
