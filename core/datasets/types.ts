// The vocabulary shared by detection, rules, the language server, the CLI and the trainer.

import type { Diagnostic, Range } from '../diagnostics.ts';
import type { Stage } from '../recipe/types.ts';

/** Record formats a line can be in (DATASETS.md). */
export type RecordFormat =
  | 'text'
  | 'messages'
  | 'prompt-completion'
  | 'alpaca'
  | 'sharegpt'
  | 'preference-explicit'
  | 'preference-implicit'
  | 'prompt-only'
  | 'unpaired-preference'
  // The same data as written by other tools (docs/formats.md):
  /** ShareGPT `conversations` + one `chosen` and one `rejected` turn (LLaMA-Factory's ranking data). */
  | 'sharegpt-ranking'
  /** `messages` (or `conversations`) + boolean `label`: KTO data as LLaMA-Factory writes it. */
  | 'unpaired-conversation'
  /** `chosen_messages` + `rejected_messages`, two whole conversations (LLaMA-Factory v1 DPO). */
  | 'preference-messages'
  /** OpenAI preference fine-tuning: `input.messages`, `preferred_output`, `non_preferred_output`. */
  | 'openai-preference'
  /** Axolotl's chat-template DPO: `messages` + `chosen`/`rejected` message objects. */
  | 'axolotl-dpo'
  /** Axolotl's `input_output`: `segments` of text, each with a boolean `label` (trained or not). */
  | 'segments'
  /** TRL's stepwise supervision: `prompt`, `completions` (steps) and one boolean `labels` entry per step. */
  | 'stepwise';

/** Whether string fields hold plain text (`standard`) or message lists (`conversational`). */
export type RecordStyle = 'standard' | 'conversational';

/** What a whole file is for; decides which formats are acceptable and which checks apply. */
export type DatasetKind = 'sft' | 'preference' | 'prompt-only' | 'text' | 'unpaired-preference' | 'stepwise-supervision';

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface Message {
  role: Role;
  /** Plain text; OpenAI-style content parts are flattened to their text for checks and training. */
  content: string;
  tool_calls?: unknown[];
  /** Other fields the template may read (name, tool_call_id, reasoning_content, ...). */
  [extra: string]: unknown;
}

/** Either a plain string (standard) or a list of messages (conversational). */
export type Turns = string | Message[];

/**
 * Every accepted format normalised to one of these shapes. This is what tokenization and training
 * consume, so the editor's hover and the trainer see the same thing.
 */
export type NormalizedRecord =
  | { format: 'text'; text: string }
  /** messages, alpaca and sharegpt all become a conversation; loss on assistant turns. */
  | { format: 'conversation'; messages: Message[] }
  /** Loss on the completion only. */
  | { format: 'prompt-completion'; prompt: Turns; completion: Turns }
  /** Implicit-prompt pairs are split into the shared prompt and the differing continuations. */
  | { format: 'preference'; prompt: Turns; chosen: Turns; rejected: Turns; margin?: number }
  | { format: 'prompt-only'; prompt: Turns; extra: Record<string, unknown> }
  | { format: 'unpaired-preference'; prompt: Turns; completion: Turns; label: boolean }
  /** Plain text pieces concatenated; loss on the pieces labelled true (Axolotl's input_output). */
  | { format: 'segments'; segments: { text: string; label: boolean }[] }
  /** Reasoning steps judged one by one (TRL's stepwise supervision; no stage trains it yet). */
  | { format: 'stepwise'; prompt: Turns; completions: string[]; labels: boolean[] };

// ---- Dataset checking: options, per-record facts and the report (core/datasets/index.ts) ----

/** LLaMA-Factory `dataset_info.json` entry for one file (only the keys Anneal honours; see datasetInfo.ts). */
export interface DatasetInfoEntry {
  file_name?: string;
  /** `alpaca` (the default), `sharegpt`, or `openai` (role/content messages). */
  formatting?: 'alpaca' | 'sharegpt' | 'openai' | string;
  /** The file holds ranked pairs (`chosen`/`rejected`): preference data. */
  ranking?: boolean;
  /**
   * LLaMA-Factory column -> the column name used in this file: `prompt`, `query`, `response`, `history`,
   * `system`, `tools`, `messages`, `chosen`, `rejected`, `kto_tag` (KTO's boolean label), `images`,
   * `videos`, `audios`. An alpaca entry naming only `prompt` is pre-training text.
   */
  columns?: Record<string, string>;
  /** ShareGPT tags (`role_tag`, `content_tag`, `user_tag`, `assistant_tag`, `observation_tag`, `function_tag`, `system_tag`). */
  tags?: Record<string, string>;
}

export interface DatasetCheckOptions {
  /** Force the file's kind instead of detecting it from the records. */
  kind?: DatasetKind;
  /** The recipe stage that uses the file; implies the kind (dpo/reward -> preference, grpo -> prompt-only, cpt -> text). */
  stage?: Stage;
  /** Stop collecting diagnostics after this many (the report says `truncated`). Counts stay exact. */
  maxDiagnostics?: number;
  /** Token count of a record with the model's tokenizer and chat template; enables `too-long` and token stats. */
  countTokens?: (record: NormalizedRecord) => number;
  /** The recipe's `max_length` in tokens; only used together with `countTokens`. */
  maxLength?: number;
  /** Columns a recipe's reward functions read (prompt-only data); absent ones are `missing-column`. */
  requiredColumns?: string[];
  /** Column/tag mapping from a LLaMA-Factory `dataset_info.json` next to the data. */
  datasetInfo?: DatasetInfoEntry;
  /** Keep each record's normalized form for `recordAt`/`records` (default true; the CLI turns it off to save memory). */
  retainRecords?: boolean;
  /** Look for near duplicates with MinHash (default true). */
  nearDuplicates?: boolean;
}

/** What the checker knows about one record line. */
export interface RecordInfo {
  /** 0-based line. */
  line: number;
  format: RecordFormat;
  style: RecordStyle;
  /** Absent when the record has errors that make it unusable, or when records are not retained. */
  normalized?: NormalizedRecord;
  /** The record's text range in the document (the whole line without its line break). */
  range: Range;
  /** Characters of content (all message/field text). */
  chars: number;
  /** Tokens when a tokenizer was given. */
  tokens?: number;
}

/** p50/p90/p99/max of a length distribution. */
export interface LengthStats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface DatasetSummary {
  /** The kind the checks assumed. */
  kind: DatasetKind | undefined;
  kindSource: 'forced' | 'detected' | 'none';
  /** Non-blank lines that parsed as a record of a known format. */
  records: number;
  /** Lines that are not records (syntax errors, not objects, unknown format). */
  invalidLines: number;
  blankLines: number;
  formats: Partial<Record<RecordFormat, number>>;
  styles: Record<RecordStyle, number>;
  errors: number;
  warnings: number;
  infos: number;
  /** Later copies of an exact duplicate. */
  duplicates: number;
  nearDuplicates: number;
  /** Content length in characters. */
  chars: LengthStats;
  /** Content length in tokens (when `countTokens` was given). */
  tokens?: LengthStats;
}

export interface DatasetReport {
  /** Sorted by line. At most `maxDiagnostics`. */
  diagnostics: Diagnostic[];
  summary: DatasetSummary;
  /** One entry per valid record line, in line order. */
  records: RecordInfo[];
  /** True when `maxDiagnostics` cut the list. */
  truncated: boolean;
}
