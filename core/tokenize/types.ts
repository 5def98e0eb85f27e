// The tokenizer surface every other part of Anneal codes against: the hover, the length checks, the
// trainer and the sampler all see a record through the same rendering and the same loss mask.

import type { Message, NormalizedRecord, Turns } from '../datasets/types.ts';

/** Which tokens carry loss: assistant turns, the completion only, or every token. */
export type LossOn = 'assistant' | 'completion' | 'all';

export interface EncodeRecordOptions {
  /** Default: `assistant` for conversations, `completion` for prompt-completion and preference. */
  lossOn?: LossOn;
  /** Keep at most this many tokens (from the start); `truncated` says whether any were cut. */
  maxLength?: number;
}

export interface EncodedRecord {
  ids: number[];
  /** lossMask[i] is true where token i carries loss. */
  lossMask: boolean[];
  /** The rendered text the ids come from (chat template applied). */
  text: string;
  /** Character span [start, end) of each token in `text`, UTF-16 units. */
  offsets: [number, number][];
  truncated: boolean;
}

export interface ChatTokenizer {
  /** Highest token id + 1 (the model's embedding table may be larger). */
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly bosId?: number;
  /** Ids that end a generated turn (eos plus end-of-turn tokens such as `<|eot_id|>`). */
  readonly stopIds: number[];
  /** False when the tokenizer ships no chat template and a plain ChatML fallback is used. */
  readonly hasChatTemplate: boolean;
  /** Token ids of `text`; no special tokens added; special-token strings in the text map to their ids. */
  encode(text: string): number[];
  decode(ids: number[], opts?: { skipSpecial?: boolean }): string;
  /** A readable form of one token, for showing tokens in the hover. */
  tokenToString(id: number): string;
  /** The model's chat template applied to `messages`. */
  renderChat(messages: Message[], opts?: { addGenerationPrompt?: boolean }): string;
  /** Render a record through the chat template and tokenise it; lossMask[i] is true where token i carries loss. */
  encodeRecord(record: NormalizedRecord, opts?: EncodeRecordOptions): EncodedRecord;
  /** Both sides of a preference record, each as prompt + continuation with loss on the continuation. */
  encodePreference(
    record: Extract<NormalizedRecord, { format: 'preference' }>,
    opts?: EncodeRecordOptions,
  ): { chosen: EncodedRecord; rejected: EncodedRecord };
  /** Tokens of a prompt rendered with add_generation_prompt, for sampling (a string is one user turn). */
  encodePrompt(prompt: Turns): number[];
  /** Token count of the record as trained (preference: the longer side; prompt-only: the prompt). */
  countTokens(record: NormalizedRecord): number;
}
