// The reward-function contract (TRL's, trl/trainer/grpo_trainer.py `_calculate_rewards`) and the shape of
// a built-in reward's declaration, which the recipe checker reads and the GRPO stage instantiates.

/** A chat message as TRL hands conversational prompts and completions to reward functions. */
export interface RewardMessage {
  role?: string;
  /** A string, or content parts (`{type: 'text', text}`) as multimodal chat templates write them. */
  content?: unknown;
}

/** A completion: plain text, or for conversational data the list of messages the model produced. */
export type Completion = string | readonly RewardMessage[];

/**
 * What a reward function receives, one entry per completion (B·G rows: each prompt repeated G times).
 * Every dataset column except `prompt`/`completion` is forwarded under its own name, as TRL does.
 */
export interface RewardInputs {
  prompts: readonly unknown[];
  completions: readonly Completion[];
  /** Token ids of each completion (no prompt, no padding). */
  completion_ids?: readonly (readonly number[])[];
  /** TRL's TrainerState (global_step, epoch, ...). */
  trainer_state?: unknown;
  [column: string]: unknown;
}

/** One score per completion; null = not applicable (TRL's None: ignored by the nan-aware statistics). */
export type RewardValues = (number | null)[];

/** A reward function with TRL's signature. User modules may also be async; built-ins are synchronous. */
export type RewardFunction = (inputs: RewardInputs) => RewardValues;

/** The type of one option a built-in accepts, as the recipe checker validates it. */
export type RewardOptionType =
  | { type: 'number'; minimum?: number; exclusiveMinimum?: number; integer?: boolean }
  | { type: 'string'; minLength?: number }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'object' };

export type RewardOptionSpec = RewardOptionType & {
  description: string;
  /** Absent: no default (the option is unset unless written). */
  default?: unknown;
};

/** A reward as the recipe names it (`rewards:` item); `options` is the built-in's own settings. */
export interface RewardConfig {
  name: string;
  /** Dataset column the reward reads (see each built-in's `column`). */
  column?: string;
  options?: Record<string, unknown>;
}

/** What the run supplies when a built-in is created. */
export interface RewardContext {
  /** GRPO's max_completion_length (tokens): the `length` reward's default limit. */
  max_completion_length?: number;
  /** Reads a file the options name (json_schema's `schema_file`), already resolved to an absolute path. */
  readText?(path: string): string | undefined;
  /** Resolves a path written in the recipe (relative to the recipe's folder); identity when absent. */
  resolvePath?(path: string): string;
}

/** A problem with a reward's options: the option key it concerns (absent: the reward as a whole). */
export interface RewardOptionProblem {
  key?: string;
  kind: 'unknown-key' | 'wrong-type' | 'invalid-value';
  message: string;
  /** The closest known option name, for an unknown key. */
  suggestion?: string;
}

/** A built-in reward's declaration: its names, what it reads and how it is made. */
export interface BuiltinReward {
  name: string;
  /** Other names the recipe may use (e.g. `exact_match`). */
  aliases: readonly string[];
  /** One sentence for hovers and the docs: what scores 1, what scores 0. */
  description: string;
  /** How `column` is used; absent: the reward reads no column. */
  column?: {
    /** Used when the recipe writes no `column`; absent: only read when written. */
    default?: string;
    description: string;
  };
  options: Readonly<Record<string, RewardOptionSpec>>;
  /** Checks across options and against files (beyond each option's type); the checker and create() both run it. */
  validate?(config: RewardConfig, context: RewardContext): RewardOptionProblem[];
  /** The reward function; throws with a one-sentence message when the config is invalid. */
  create(config: RewardConfig, context: RewardContext): RewardFunction;
}
