// Which format a record is in, decided from its keys alone (never from its values), so that a record
// with a wrong value is still checked against the format its author meant.

import type { DatasetKind, RecordFormat, RecordStyle } from './types.ts';
import type { Stage } from '../recipe/types.ts';

export type JsonObject = Record<string, unknown>;

/**
 * The format a record's keys point to, or undefined when it has none of the known fields. Keys that
 * only one format uses come first, so `messages` + `chosen` is Axolotl's DPO, not SFT with extra keys.
 */
export function detectFormat(record: JsonObject): RecordFormat | undefined {
  if ('preferred_output' in record || 'non_preferred_output' in record) return 'openai-preference';
  if ('chosen_messages' in record || 'rejected_messages' in record) return 'preference-messages';
  if ('segments' in record) return 'segments';
  if ('completions' in record) return 'stepwise';
  const messages = 'messages' in record;
  if (messages || 'conversations' in record) {
    if ('chosen' in record || 'rejected' in record) return messages ? 'axolotl-dpo' : 'sharegpt-ranking';
    // Only a boolean label makes a conversation a KTO example; a string label is a category (metadata).
    if (typeof record.label === 'boolean') return 'unpaired-conversation';
    return messages ? 'messages' : 'sharegpt';
  }
  if ('chosen' in record || 'rejected' in record) return 'prompt' in record ? 'preference-explicit' : 'preference-implicit';
  if ('label' in record && ('completion' in record || 'prompt' in record)) return 'unpaired-preference';
  if ('instruction' in record || 'output' in record) return 'alpaca';
  if ('completion' in record) return 'prompt-completion';
  if ('prompt' in record) return 'prompt-only';
  if ('text' in record) return 'text';
  return undefined;
}

/** Fields holding turns (a string or a message list), per format: these decide the style. */
const TURN_FIELDS: Partial<Record<RecordFormat, string[]>> = {
  'prompt-completion': ['prompt', 'completion'],
  'preference-explicit': ['prompt', 'chosen', 'rejected'],
  'preference-implicit': ['chosen', 'rejected'],
  'prompt-only': ['prompt'],
  'unpaired-preference': ['prompt', 'completion'],
};

const CONVERSATIONAL = new Set<RecordFormat>(['messages', 'sharegpt', 'sharegpt-ranking', 'unpaired-conversation', 'preference-messages', 'openai-preference', 'axolotl-dpo']);

/** Standard (plain strings) or conversational (message lists), from the record's first turn field. */
export function detectStyle(record: JsonObject, format: RecordFormat): RecordStyle {
  if (CONVERSATIONAL.has(format)) return 'conversational';
  if (format === 'text' || format === 'alpaca' || format === 'segments') return 'standard';
  if (format === 'stepwise') return Array.isArray(record.prompt) ? 'conversational' : 'standard';
  for (const field of TURN_FIELDS[format] ?? []) {
    const v = record[field];
    if (Array.isArray(v)) return 'conversational';
    if (typeof v === 'string') return 'standard';
  }
  return 'standard';
}

/** Fields of a format that hold turns. */
export function turnFields(format: RecordFormat): string[] {
  return TURN_FIELDS[format] ?? [];
}

/** The kind of file a format belongs to. */
export function kindOfFormat(format: RecordFormat): DatasetKind {
  switch (format) {
    case 'text':
      return 'text';
    case 'preference-explicit':
    case 'preference-implicit':
    case 'sharegpt-ranking':
    case 'preference-messages':
    case 'openai-preference':
    case 'axolotl-dpo':
      return 'preference';
    case 'prompt-only':
      return 'prompt-only';
    case 'unpaired-preference':
    case 'unpaired-conversation':
      return 'unpaired-preference';
    case 'stepwise':
      return 'stepwise-supervision';
    default:
      return 'sft';
  }
}

/** The kind a recipe stage trains on. */
export function kindOfStage(stage: Stage): DatasetKind {
  switch (stage) {
    case 'dpo':
    case 'orpo':
    case 'cpo':
    case 'simpo':
    case 'reward':
      return 'preference';
    case 'kto':
      return 'unpaired-preference';
    case 'grpo':
    case 'ppo':
      return 'prompt-only';
    case 'cpt':
      return 'text';
    default:
      return 'sft';
  }
}

const PAIRS: RecordFormat[] = ['preference-explicit', 'preference-implicit', 'sharegpt-ranking', 'preference-messages', 'openai-preference', 'axolotl-dpo'];

const ACCEPTED: Record<DatasetKind, RecordFormat[]> = {
  sft: ['messages', 'prompt-completion', 'alpaca', 'sharegpt', 'text', 'segments'],
  preference: PAIRS,
  'prompt-only': ['prompt-only', 'prompt-completion'],
  text: ['text'],
  // KTO unpairs preference pairs itself (TRL's unpair_preference_dataset): each pair is two examples.
  'unpaired-preference': ['unpaired-preference', 'unpaired-conversation', ...PAIRS],
  'stepwise-supervision': ['stepwise'],
};

/** Whether a file of `kind` can hold records of `format`. */
export function kindAccepts(kind: DatasetKind, format: RecordFormat): boolean {
  return ACCEPTED[kind].includes(format);
}

/** Human name of a kind for messages. */
export function describeKind(kind: DatasetKind): string {
  switch (kind) {
    case 'sft':
      return 'an SFT dataset';
    case 'preference':
      return 'a preference dataset (prompt/chosen/rejected)';
    case 'prompt-only':
      return 'a prompt-only dataset';
    case 'text':
      return 'a plain-text dataset';
    case 'unpaired-preference':
      return 'an unpaired preference dataset (prompt/completion/label)';
    case 'stepwise-supervision':
      return 'a stepwise-supervision dataset (prompt/completions/labels)';
  }
}
