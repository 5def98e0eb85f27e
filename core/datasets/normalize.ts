// Every accepted record format turned into one NormalizedRecord shape. The trainer, the tokenizer and
// the editor's hover all consume this, so it is strict: a record that is structurally unusable
// normalises to undefined (the rules explain why), never to a guess.

import { detectFormat, detectStyle, type JsonObject } from './detect.ts';
import { normalizeForeign } from './foreignNormalize.ts';
import type { Message, NormalizedRecord, Role, Turns } from './types.ts';

const ROLES = new Set<string>(['system', 'user', 'assistant', 'tool']);

/** ShareGPT `from` values and the role each stands for. */
export const SHAREGPT_ROLES: Record<string, Role> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  system: 'system',
  function_call: 'assistant',
  observation: 'tool',
  tool: 'tool',
};

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON object on a record line (a leading BOM ignored); undefined when the line is not one. */
export function parseRecordObject(lineText: string): JsonObject | undefined {
  let value: unknown;
  try {
    value = JSON.parse(lineText.charCodeAt(0) === 0xfeff ? lineText.slice(1) : lineText);
  } catch {
    return undefined;
  }
  return isObject(value) ? value : undefined;
}

/**
 * Text of a message content: a string, or content parts whose text parts are joined (OpenAI's
 * `{"type": "text", "text"}` and LLaMA-Factory v1's `{"type": "text", "value"}`; other parts carry no
 * text). Undefined when it is neither; null counts as empty (assistant turns that only call tools).
 */
export function flattenContent(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null) return '';
  if (!Array.isArray(content)) return undefined;
  let out = '';
  for (const part of content) {
    if (typeof part === 'string') out += part;
    else if (isObject(part)) {
      if (part.type !== undefined && part.type !== 'text') continue;
      if (typeof part.text === 'string') out += part.text;
      else if (typeof part.value === 'string') out += part.value;
    } else return undefined;
  }
  return out;
}

/** A tool call as chat templates read it: `{type: "function", function: {name, arguments}}`. */
function toolCall(name: unknown, args: unknown): unknown {
  return { type: 'function', function: { name, arguments: args ?? {} } };
}

/**
 * One message in the shape chat templates read, or undefined when its role or content is unusable.
 * Other tools' spellings become the usual one: OpenAI's legacy `role: "function"` is a `tool` message
 * and `function_call` a tool call; LLaMA-Factory v1's `reasoning` parts become `reasoning_content`
 * and its `tool_call` parts tool calls. Per-message weights (`weight`, `loss_weight`) stay on the
 * message: a weight of 0 means its tokens carry no loss.
 */
export function normalizeMessage(raw: unknown): Message | undefined {
  if (!isObject(raw) || typeof raw.role !== 'string') return undefined;
  const role = raw.role === 'function' ? 'tool' : raw.role;
  if (!ROLES.has(role)) return undefined;
  const legacyCall = isObject(raw.function_call) ? raw.function_call : undefined;
  if (!('content' in raw) && !Array.isArray(raw.tool_calls) && !legacyCall) return undefined;
  const content = flattenContent(raw.content ?? null);
  if (content === undefined) return undefined;
  const message: Message = { ...raw, role: role as Role, content };
  delete message.function_call;
  const calls: unknown[] = Array.isArray(raw.tool_calls) ? [...raw.tool_calls] : [];
  if (legacyCall) calls.push(toolCall(legacyCall.name, legacyCall.arguments));
  if (Array.isArray(raw.content)) {
    const reasoning: string[] = [];
    for (const part of raw.content) {
      if (!isObject(part) || typeof part.value !== 'string') continue;
      if (part.type === 'reasoning') reasoning.push(part.value);
      else if (part.type === 'tool_call') {
        try {
          const call: unknown = JSON.parse(part.value);
          if (!isObject(call)) return undefined;
          calls.push(toolCall(call.name, call.arguments));
        } catch {
          return undefined;
        }
      }
    }
    if (reasoning.length > 0 && message.reasoning_content === undefined) message.reasoning_content = reasoning.join('\n');
  }
  if (calls.length > 0) message.tool_calls = calls;
  else if (raw.tool_calls === undefined) delete message.tool_calls;
  return message;
}

/** A message list, or undefined when any message is unusable. */
export function normalizeMessages(raw: unknown): Message[] | undefined {
  if (!Array.isArray(raw) || raw.length === 0) return undefined;
  const out: Message[] = [];
  for (const m of raw) {
    const message = normalizeMessage(m);
    if (!message) return undefined;
    out.push(message);
  }
  return out;
}

export function normalizeTurns(raw: unknown): Turns | undefined {
  return typeof raw === 'string' ? raw : normalizeMessages(raw);
}

/** A ShareGPT `{from, value}` turn as a message (function calls become assistant tool calls). */
export function sharegptTurnToMessage(raw: unknown): Message | undefined {
  if (!isObject(raw) || typeof raw.from !== 'string' || typeof raw.value !== 'string') return undefined;
  const role = SHAREGPT_ROLES[raw.from];
  if (!role) return undefined;
  if (raw.from === 'function_call') {
    try {
      const call: unknown = JSON.parse(raw.value);
      const calls = Array.isArray(call) ? call : [call];
      if (calls.every((c) => isObject(c) && typeof c.name === 'string')) {
        return {
          role,
          content: '',
          tool_calls: calls.map((c) => ({ type: 'function', function: { name: c.name, arguments: c.arguments ?? {} } })),
        };
      }
    } catch {
      // Not JSON: keep the call text as the assistant's content.
    }
  }
  return { role, content: raw.value };
}

/** The conversation of a ShareGPT record (a top-level `system` string becomes the first message). */
export function sharegptToMessages(record: JsonObject): Message[] | undefined {
  const turns = record.conversations;
  if (!Array.isArray(turns) || turns.length === 0) return undefined;
  const out: Message[] = [];
  if (typeof record.system === 'string' && record.system !== '') out.push({ role: 'system', content: record.system });
  for (const t of turns) {
    const m = sharegptTurnToMessage(t);
    if (!m) return undefined;
    out.push(m);
  }
  return out;
}

/** The conversation of an Alpaca record: system, history pairs, then instruction (+ input) and output. */
export function alpacaToMessages(record: JsonObject): Message[] | undefined {
  const { instruction, input, output, system, history } = record;
  if (typeof instruction !== 'string' || typeof output !== 'string') return undefined;
  if (input !== undefined && input !== null && typeof input !== 'string') return undefined;
  const out: Message[] = [];
  if (typeof system === 'string' && system !== '') out.push({ role: 'system', content: system });
  if (history !== undefined && history !== null) {
    if (!Array.isArray(history)) return undefined;
    for (const pair of history) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return undefined;
      out.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
    }
  }
  out.push({ role: 'user', content: input ? `${instruction}\n${input}` : instruction });
  out.push({ role: 'assistant', content: output });
  return out;
}

/** Split an implicit-prompt pair into the shared prompt and the two continuations. */
export function splitImplicit(chosen: Turns, rejected: Turns): { prompt: Turns; chosen: Turns; rejected: Turns } {
  if (typeof chosen === 'string' && typeof rejected === 'string') {
    let i = 0;
    const n = Math.min(chosen.length, rejected.length);
    while (i < n && chosen.charCodeAt(i) === rejected.charCodeAt(i)) i++;
    // Keep the separating space with the continuations rather than the prompt.
    if (i > 0 && i < n && chosen[i - 1] === ' ') i--;
    return { prompt: chosen.slice(0, i), chosen: chosen.slice(i), rejected: rejected.slice(i) };
  }
  if (Array.isArray(chosen) && Array.isArray(rejected)) {
    const shared = sharedMessagePrefix(chosen, rejected);
    return { prompt: chosen.slice(0, shared), chosen: chosen.slice(shared), rejected: rejected.slice(shared) };
  }
  return { prompt: '', chosen, rejected };
}

/** Number of leading messages two conversations share (same role and content). */
export function sharedMessagePrefix(a: Message[], b: Message[]): number {
  let i = 0;
  const n = Math.min(a.length, b.length);
  while (i < n && a[i].role === b[i].role && a[i].content === b[i].content) i++;
  return i;
}

/** Normalise one parsed JSON record of any accepted format; undefined when it is not usable as is. */
export function normalizeRecord(value: unknown): NormalizedRecord | undefined {
  if (!isObject(value)) return undefined;
  const format = detectFormat(value);
  switch (format) {
    case 'text':
      return typeof value.text === 'string' ? { format: 'text', text: value.text } : undefined;
    case 'messages': {
      const messages = normalizeMessages(value.messages);
      return messages && { format: 'conversation', messages };
    }
    case 'sharegpt': {
      const messages = sharegptToMessages(value);
      return messages && { format: 'conversation', messages };
    }
    case 'alpaca': {
      const messages = alpacaToMessages(value);
      return messages && { format: 'conversation', messages };
    }
    case 'prompt-completion': {
      const prompt = normalizeTurns(value.prompt);
      const completion = normalizeTurns(value.completion);
      return prompt !== undefined && completion !== undefined ? { format: 'prompt-completion', prompt, completion } : undefined;
    }
    case 'preference-explicit': {
      const prompt = normalizeTurns(value.prompt);
      const chosen = normalizeTurns(value.chosen);
      const rejected = normalizeTurns(value.rejected);
      if (prompt === undefined || chosen === undefined || rejected === undefined) return undefined;
      return { format: 'preference', prompt, chosen, rejected, ...marginOf(value) };
    }
    case 'preference-implicit': {
      const chosen = normalizeTurns(value.chosen);
      const rejected = normalizeTurns(value.rejected);
      if (chosen === undefined || rejected === undefined || typeof chosen !== typeof rejected) return undefined;
      return { format: 'preference', ...splitImplicit(chosen, rejected), ...marginOf(value) };
    }
    case 'prompt-only': {
      const prompt = normalizeTurns(value.prompt);
      if (prompt === undefined) return undefined;
      const { prompt: _prompt, ...extra } = value;
      return { format: 'prompt-only', prompt, extra };
    }
    case 'unpaired-preference': {
      const prompt = normalizeTurns(value.prompt);
      const completion = normalizeTurns(value.completion);
      if (prompt === undefined || completion === undefined || typeof value.label !== 'boolean') return undefined;
      return { format: 'unpaired-preference', prompt, completion, label: value.label };
    }
    case undefined:
      return undefined;
    default:
      return normalizeForeign(value, format);
  }
}

/** Keys that belong to a format (everything else is carried over by conversions). */
const FORMAT_KEYS = new Set(['messages', 'conversations', 'instruction', 'input', 'output', 'system', 'history', 'prompt', 'completion', 'tools']);

/**
 * A record line converted to the `messages` format (alpaca, sharegpt, prompt-completion), as the new
 * JSON text for the line; undefined when the line is not such a record or cannot be converted.
 */
export function toMessagesRecord(lineText: string): string | undefined {
  const value = parseRecordObject(lineText);
  if (!value) return undefined;
  const format = detectFormat(value);
  let messages: Message[] | undefined;
  if (format === 'alpaca') messages = alpacaToMessages(value);
  else if (format === 'sharegpt') messages = sharegptToMessages(value);
  else if (format === 'prompt-completion') {
    const style = detectStyle(value, format);
    if (style === 'standard' && typeof value.prompt === 'string' && typeof value.completion === 'string') {
      messages = [
        { role: 'user', content: value.prompt },
        { role: 'assistant', content: value.completion },
      ];
    } else {
      const prompt = normalizeMessages(value.prompt);
      const completion = normalizeMessages(value.completion);
      messages = prompt && completion ? [...prompt, ...completion] : undefined;
    }
  }
  if (!messages) return undefined;
  const out: JsonObject = { messages };
  if (format === 'sharegpt' && value.tools !== undefined) out.tools = value.tools;
  for (const [k, v] of Object.entries(value)) if (!FORMAT_KEYS.has(k)) out[k] = v;
  return JSON.stringify(out);
}

/** TRL's optional `margin` column of reward-model data: how much more the chosen answer is preferred. */
function marginOf(value: Record<string, unknown>): { margin?: number } {
  return typeof value.margin === 'number' && Number.isFinite(value.margin) ? { margin: value.margin } : {};
}
