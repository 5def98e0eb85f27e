// Per-record checks. They look at one parsed record and its detected format and report problems by
// JSON path; lineAnalysis turns the paths into exact character ranges only when something is found.
// Conversations are checked in conversationRules.ts, formats from other tools in foreignRules.ts.

import { checkConversation, checkConversationExtras, checkShareGptTurns, requireString, typeName, type PendingDiagnostic, type Purpose, type Report } from './conversationRules.ts';
import { turnFields, type JsonObject } from './detect.ts';
import { checkForeignRecord } from './foreignRules.ts';
import type { RecordFormat, RecordStyle } from './types.ts';

export type { PendingDiagnostic } from './conversationRules.ts';
export { suggestName } from './conversationRules.ts';

export interface RuleContext {
  /** Columns that must be present (reward function inputs). */
  requiredColumns?: readonly string[];
}

/** Fields other tools read next to a conversation; never unknown (checkConversationExtras checks their types). */
const CHAT_EXTRAS = ['tools', 'functions', 'parallel_tool_calls', 'chat_template_kwargs'];

/** Keys each format knows; anything else is `unknown-field` (info) unless it is common metadata. */
const KNOWN_KEYS: Record<RecordFormat, string[]> = {
  text: ['text'],
  messages: ['messages', ...CHAT_EXTRAS],
  'prompt-completion': ['prompt', 'completion', ...CHAT_EXTRAS],
  alpaca: ['instruction', 'input', 'output', 'system', 'history', 'tools'],
  sharegpt: ['conversations', 'system', ...CHAT_EXTRAS],
  'preference-explicit': ['prompt', 'chosen', 'rejected', 'score_chosen', 'score_rejected', 'margin', ...CHAT_EXTRAS],
  'preference-implicit': ['chosen', 'rejected', 'score_chosen', 'score_rejected', 'margin', ...CHAT_EXTRAS],
  'prompt-only': [],
  'unpaired-preference': ['prompt', 'completion', 'label', ...CHAT_EXTRAS],
  'sharegpt-ranking': ['conversations', 'chosen', 'rejected', 'system', ...CHAT_EXTRAS],
  'unpaired-conversation': ['messages', 'conversations', 'label', 'system', ...CHAT_EXTRAS],
  'preference-messages': ['chosen_messages', 'rejected_messages', 'prompt', ...CHAT_EXTRAS],
  'openai-preference': ['input', 'preferred_output', 'non_preferred_output'],
  'axolotl-dpo': ['messages', 'chosen', 'rejected', ...CHAT_EXTRAS],
  segments: ['segments'],
  stepwise: ['prompt', 'completions', 'labels'],
};
const METADATA_KEYS = new Set(['id', 'idx', 'uuid', 'source', 'meta', 'metadata', 'category', 'tags', 'lang', 'language', 'dataset', 'split', 'images', 'videos', 'audios', 'name', 'extra_info', '_dataset_name']);

/** All problems of one record of a known format. */
export function checkRecord(record: JsonObject, format: RecordFormat, style: RecordStyle, ctx: RuleContext): PendingDiagnostic[] {
  const found: PendingDiagnostic[] = [];
  const report: Report = (code, message, path, target, data) => found.push({ code, message, path, target, data });
  switch (format) {
    case 'text':
      requireString(record, 'text', report, true);
      break;
    case 'messages':
      checkConversation(record.messages, ['messages'], report, 'sft');
      break;
    case 'sharegpt':
      checkShareGptTurns(record.conversations, ['conversations'], report, 'sft');
      if (record.system !== undefined && typeof record.system !== 'string') report('wrong-type', '"system" must be a string.', ['system'], 'value', { expected: 'string' });
      break;
    case 'alpaca':
      checkAlpaca(record, report);
      break;
    case 'prompt-completion':
    case 'preference-explicit':
    case 'preference-implicit':
    case 'prompt-only':
    case 'unpaired-preference':
      checkTurnFormat(record, format, style, report);
      break;
    default:
      checkForeignRecord(record, format, report);
  }
  if (format !== 'prompt-only') checkConversationExtras(record, report);
  if (format === 'prompt-only') {
    for (const column of ctx.requiredColumns ?? []) {
      if (!(column in record)) report('missing-column', `The reward functions read the column "${column}", which this record lacks; add it.`, [], 'firstKey', { column });
    }
  } else {
    const known = KNOWN_KEYS[format];
    for (const key of Object.keys(record)) {
      if (!known.includes(key) && !METADATA_KEYS.has(key)) {
        report('unknown-field', `"${key}" is not a ${format} field and is ignored in training; remove or rename it if it was meant to be used.`, [key], 'key');
      }
    }
  }
  return found;
}

function checkAlpaca(record: JsonObject, report: Report): void {
  requireString(record, 'instruction', report, true);
  requireString(record, 'output', report, true);
  for (const key of ['input', 'system']) {
    const v = record[key];
    if (v !== undefined && v !== null && typeof v !== 'string') report('wrong-type', `"${key}" must be a string, not ${typeName(v)}.`, [key], 'value', { expected: 'string' });
  }
  const history = record.history;
  if (history === undefined || history === null) return;
  if (!Array.isArray(history)) {
    report('wrong-type', '"history" must be a list of [instruction, response] pairs.', ['history'], 'value', { expected: 'array' });
    return;
  }
  history.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      report('wrong-type', 'Each "history" entry must be a pair of strings [instruction, response].', ['history', i], 'value', { expected: 'array' });
    }
  });
}

/** prompt-completion, preference (explicit/implicit), prompt-only and unpaired preference. */
function checkTurnFormat(record: JsonObject, format: RecordFormat, style: RecordStyle, report: Report): void {
  const fields = turnFields(format);
  for (const field of fields) {
    if (!(field in record)) {
      const present = fields.find((f) => f in record) ?? Object.keys(record)[0];
      report('missing-field', `The record has "${present}" but no "${field}"; add it (${fields.join(', ')} are required).`, present ? [present] : [], present ? 'key' : 'firstKey', { field });
      continue;
    }
    const v = record[field];
    if (typeof v === 'string') {
      if (style === 'conversational') {
        report('inconsistent-style', `"${field}" is a string but this record's other fields are message lists; use one style.`, [field], 'value');
      } else if (v.trim() === '') {
        report(field === 'prompt' ? 'empty-prompt' : 'empty-content', `"${field}" is empty; give it text or remove the record.`, [field], 'value');
      }
    } else if (Array.isArray(v)) {
      if (style === 'standard') {
        report('inconsistent-style', `"${field}" is a message list but this record's other fields are strings; use one style.`, [field], 'value');
      } else {
        const purpose: Purpose = field === 'prompt' ? 'prompt' : format === 'preference-implicit' ? 'implicit' : 'continuation';
        if (field === 'prompt' && v.length === 0) report('empty-prompt', '"prompt" has no messages; add the user turn.', [field], 'value');
        else checkConversation(v, [field], report, purpose);
      }
    } else {
      report('wrong-type', `"${field}" must be a string or a list of messages, not ${typeName(v)}.`, [field], 'value', { expected: 'string' });
    }
  }
  if (format === 'unpaired-preference' && 'label' in record && typeof record.label !== 'boolean') {
    report('wrong-type', '"label" must be true (desirable) or false (undesirable).', ['label'], 'value', { expected: 'boolean' });
  }
}
