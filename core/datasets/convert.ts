// Quick-fix conversions of one record line to TRL's canonical form (docs/formats.md): other tools'
// formats become {messages}, {prompt, completion}, {prompt, chosen, rejected} or
// {prompt, completion, label}, built from the same normalized record the trainer reads, so a
// converted file trains exactly as the original did. Offered only where nothing would be lost.

import { detectFormat, type JsonObject } from './detect.ts';
import { normalizeRecord, parseRecordObject, toMessagesRecord, isObject } from './normalize.ts';
import type { Message, RecordFormat, Turns } from './types.ts';

/** What a conversion produces, named for the quick fix's title. */
export type TrlForm = 'messages' | 'prompt-completion' | 'preference' | 'unpaired-preference';

export interface ConvertedRecord {
  text: string;
  form: TrlForm;
}

/** Formats the quick fix converts (alpaca/sharegpt/prompt-completion through toMessagesRecord). */
export const CONVERTIBLE_FORMATS: readonly RecordFormat[] = [
  'alpaca', 'sharegpt', 'prompt-completion', 'messages', 'sharegpt-ranking', 'unpaired-conversation', 'preference-messages', 'openai-preference', 'axolotl-dpo', 'segments',
];

/** Keys that belong to a source format and are not carried over into the converted record. */
const SOURCE_KEYS = new Set([
  'messages', 'conversations', 'system', 'chosen', 'rejected', 'label', 'chosen_messages', 'rejected_messages', 'input', 'preferred_output', 'non_preferred_output', 'segments', 'functions',
]);

/** A message as TRL's templates read it: the default per-message weights dropped (they restate the default). */
function plainMessage(m: Message): Message {
  const { weight: _w, loss_weight: _lw, ...rest } = m;
  return rest as Message;
}

/** A non-default weight (an assistant turn not trained on, or another turn trained on) has no TRL equivalent. */
function weightsAreDefault(turns: Turns[]): boolean {
  for (const t of turns) {
    if (typeof t === 'string') continue;
    for (const m of t) {
      const w = m.loss_weight ?? m.weight;
      if (w === undefined) continue;
      if (m.role === 'assistant' ? w !== 1 : w !== 0) return false;
    }
  }
  return true;
}

const plain = (t: Turns): Turns => (typeof t === 'string' ? t : t.map(plainMessage));

/** `functions` of OpenAI's legacy format as `tools` (what TRL and current templates read). */
function legacyTools(value: JsonObject): unknown {
  return Array.isArray(value.functions) ? value.functions.map((f) => ({ type: 'function', function: f })) : undefined;
}

/** Whether a `messages` record uses a spelling TRL does not read (v1 parts, legacy function calls). */
function usesOtherSpelling(value: JsonObject): boolean {
  if ('functions' in value) return true;
  if (!Array.isArray(value.messages)) return false;
  return value.messages.some((m) => isObject(m) && (m.role === 'function' || 'function_call' in m || (Array.isArray(m.content) && m.content.some((p) => isObject(p) && 'value' in p))));
}

/** The line converted to TRL's canonical form, or undefined when it is already in it or cannot be converted safely. */
export function convertRecord(lineText: string): ConvertedRecord | undefined {
  const value = parseRecordObject(lineText);
  if (!value) return undefined;
  const format = detectFormat(value);
  if (format === 'alpaca' || format === 'sharegpt' || format === 'prompt-completion') {
    const text = toMessagesRecord(lineText);
    return text === undefined ? undefined : { text, form: 'messages' };
  }
  if (!format || !CONVERTIBLE_FORMATS.includes(format)) return undefined;
  if (format === 'messages' && !usesOtherSpelling(value)) return undefined;
  const record = normalizeRecord(value);
  if (!record) return undefined;
  const carried: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!SOURCE_KEYS.has(k)) carried[k] = v;
  const tools = legacyTools(value);
  if (tools && carried.tools === undefined) carried.tools = tools;
  // OpenAI keeps tools inside `input`; TRL keeps them on the record.
  if (format === 'openai-preference' && isObject(value.input)) {
    for (const k of ['tools', 'parallel_tool_calls']) if (value.input[k] !== undefined && carried[k] === undefined) carried[k] = value.input[k];
  }
  const out = (form: TrlForm, fields: JsonObject): ConvertedRecord => ({ text: JSON.stringify({ ...fields, ...carried }), form });
  switch (record.format) {
    case 'conversation':
      return weightsAreDefault([record.messages]) ? out('messages', { messages: record.messages.map(plainMessage) }) : undefined;
    case 'preference':
      if (!weightsAreDefault([record.prompt, record.chosen, record.rejected])) return undefined;
      return out('preference', { prompt: plain(record.prompt), chosen: plain(record.chosen), rejected: plain(record.rejected) });
    case 'unpaired-preference':
      if (!weightsAreDefault([record.prompt, record.completion])) return undefined;
      return out('unpaired-preference', { prompt: plain(record.prompt), completion: plain(record.completion), label: record.label });
    case 'segments': {
      // Only "context, then one trained piece" has a TRL equivalent: standard prompt-completion.
      const last = record.segments.length - 1;
      if (last < 1 || !record.segments[last].label || record.segments.slice(0, last).some((s) => s.label)) return undefined;
      return out('prompt-completion', { prompt: record.segments.slice(0, last).map((s) => s.text).join(''), completion: record.segments[last].text });
    }
    default:
      return undefined;
  }
}
