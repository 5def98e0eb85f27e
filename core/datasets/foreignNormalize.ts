// The formats other tools write (docs/formats.md), normalised to what the trainer reads: the same
// NormalizedRecord shapes as TRL's own formats, so a DPO run on OpenAI preference data and one on
// {prompt, chosen, rejected} see identical pairs. Strict like normalize.ts: unusable -> undefined.

import type { JsonObject } from './detect.ts';
import { isObject, normalizeMessage, normalizeMessages, normalizeTurns, sharegptToMessages, sharegptTurnToMessage, splitImplicit } from './normalize.ts';
import type { Message, NormalizedRecord, RecordFormat } from './types.ts';

/** One reply given as a ShareGPT turn or a list of them. */
function sharegptReply(raw: unknown): Message[] | undefined {
  if (Array.isArray(raw)) {
    const out: Message[] = [];
    for (const t of raw) {
      const m = sharegptTurnToMessage(t);
      if (!m) return undefined;
      out.push(m);
    }
    return out.length > 0 ? out : undefined;
  }
  const m = sharegptTurnToMessage(raw);
  return m && [m];
}

/** One reply given as a message object, a list of messages or plain text (Axolotl's chat-template DPO). */
function messageReply(raw: unknown): Message[] | undefined {
  if (typeof raw === 'string') return [{ role: 'assistant', content: raw }];
  if (Array.isArray(raw)) return normalizeMessages(raw);
  const m = normalizeMessage(raw);
  return m && [m];
}

function pair(prompt: Message[] | undefined, chosen: Message[] | undefined, rejected: Message[] | undefined): NormalizedRecord | undefined {
  if (!prompt || !chosen || !rejected) return undefined;
  return { format: 'preference', prompt, chosen, rejected };
}

/** Normalise a record of one of the foreign formats. */
export function normalizeForeign(value: JsonObject, format: RecordFormat): NormalizedRecord | undefined {
  switch (format) {
    case 'sharegpt-ranking':
      return pair(sharegptToMessages(value), sharegptReply(value.chosen), sharegptReply(value.rejected));
    case 'axolotl-dpo':
      return pair(normalizeMessages(value.messages), messageReply(value.chosen), messageReply(value.rejected));
    case 'openai-preference': {
      const input = isObject(value.input) ? value.input : undefined;
      return pair(normalizeMessages(input?.messages), normalizeMessages(value.preferred_output), normalizeMessages(value.non_preferred_output));
    }
    case 'preference-messages': {
      const chosen = normalizeMessages(value.chosen_messages);
      const rejected = normalizeMessages(value.rejected_messages);
      return chosen && rejected ? { format: 'preference', ...splitImplicit(chosen, rejected) } : undefined;
    }
    case 'unpaired-conversation': {
      // LLaMA-Factory's KTO: every turn before the last is the prompt, the last (assistant) turn is judged.
      const messages = 'messages' in value ? normalizeMessages(value.messages) : sharegptToMessages(value);
      if (!messages || typeof value.label !== 'boolean') return undefined;
      const last = messages[messages.length - 1];
      if (messages.length < 2 || last.role !== 'assistant') return undefined;
      return { format: 'unpaired-preference', prompt: messages.slice(0, -1), completion: [last], label: value.label };
    }
    case 'segments': {
      if (!Array.isArray(value.segments) || value.segments.length === 0) return undefined;
      const segments: { text: string; label: boolean }[] = [];
      for (const s of value.segments) {
        if (!isObject(s) || typeof s.text !== 'string' || typeof s.label !== 'boolean') return undefined;
        segments.push({ text: s.text, label: s.label });
      }
      return { format: 'segments', segments };
    }
    case 'stepwise': {
      const prompt = normalizeTurns(value.prompt);
      const { completions, labels } = value;
      if (prompt === undefined || !Array.isArray(completions) || !Array.isArray(labels) || completions.length !== labels.length) return undefined;
      if (!completions.every((c) => typeof c === 'string') || !labels.every((l) => typeof l === 'boolean')) return undefined;
      return { format: 'stepwise', prompt, completions: completions as string[], labels: labels as boolean[] };
    }
    default:
      return undefined;
  }
}
