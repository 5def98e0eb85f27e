// Per-record checks. They look at one parsed record and its detected format and report problems by
// JSON path; lineAnalysis turns the paths into exact character ranges only when something is found.

import type { DatasetCode } from './codes.ts';
import { turnFields, type JsonObject } from './detect.ts';
import type { JsonPath, PathTarget } from './jsonPositions.ts';
import { flattenContent, isObject, SHAREGPT_ROLES } from './normalize.ts';
import type { RecordFormat, RecordStyle } from './types.ts';

/** A problem found in a record, located by path; resolved to a range later. */
export interface PendingDiagnostic {
  code: DatasetCode;
  message: string;
  path: JsonPath;
  target: PathTarget;
  data?: unknown;
}

export interface RuleContext {
  /** Columns that must be present (reward function inputs). */
  requiredColumns?: readonly string[];
}

type Report = (code: DatasetCode, message: string, path: JsonPath, target: PathTarget, data?: unknown) => void;

/** Keys each format knows; anything else is `unknown-field` (info) unless it is common metadata. */
const KNOWN_KEYS: Record<RecordFormat, string[]> = {
  text: ['text'],
  messages: ['messages', 'tools'],
  'prompt-completion': ['prompt', 'completion', 'tools'],
  alpaca: ['instruction', 'input', 'output', 'system', 'history'],
  sharegpt: ['conversations', 'system', 'tools'],
  'preference-explicit': ['prompt', 'chosen', 'rejected', 'tools', 'score_chosen', 'score_rejected'],
  'preference-implicit': ['chosen', 'rejected', 'tools', 'score_chosen', 'score_rejected'],
  'prompt-only': [],
  'unpaired-preference': ['prompt', 'completion', 'label', 'tools'],
};
const METADATA_KEYS = new Set(['id', 'idx', 'uuid', 'source', 'meta', 'metadata', 'category', 'tags', 'lang', 'language', 'dataset', 'split', 'images', 'name']);

const MESSAGE_ROLES = ['system', 'user', 'assistant', 'tool'];
const ROLE_ALIASES: Record<string, string> = {
  human: 'user',
  gpt: 'assistant',
  bot: 'assistant',
  model: 'assistant',
  ai: 'assistant',
  chatgpt: 'assistant',
  function: 'tool',
  observation: 'tool',
  developer: 'system',
};
const SHAREGPT_FROM = Object.keys(SHAREGPT_ROLES);
const SHAREGPT_ALIASES: Record<string, string> = { bot: 'gpt', model: 'gpt', ai: 'gpt', chatgpt: 'gpt', tool: 'observation' };

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
      checkShareGpt(record, report);
      break;
    case 'alpaca':
      checkAlpaca(record, report);
      break;
    default:
      checkTurnFormat(record, format, style, report);
  }
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

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Checks a required string field; reports and returns false when it is missing, not a string or empty. */
function requireString(record: JsonObject, key: string, report: Report, nonEmpty: boolean): boolean {
  if (!(key in record)) {
    report('missing-field', `The record has no "${key}" field; add it.`, [], 'firstKey', { field: key });
    return false;
  }
  const v = record[key];
  if (typeof v !== 'string') {
    report('wrong-type', `"${key}" must be a string, not ${typeName(v)}.`, [key], 'value', { expected: 'string' });
    return false;
  }
  if (nonEmpty && v.trim() === '') {
    report('empty-content', `"${key}" is empty; give it text or remove the record.`, [key], 'value');
    return false;
  }
  return true;
}

/** The likely intended name for a misspelt one: an alias, a case variant or a near spelling. */
export function suggestName(value: string, valid: readonly string[], aliases: Record<string, string>): string | undefined {
  const lower = value.trim().toLowerCase();
  if (aliases[lower]) return aliases[lower];
  if (valid.includes(lower)) return lower;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of valid) {
    const d = editDistance(lower, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function reportRole(value: unknown, path: JsonPath, report: Report, valid: readonly string[], aliases: Record<string, string>, field: string): void {
  if (typeof value !== 'string') {
    report('wrong-type', `"${field}" must be a string, one of ${valid.join(', ')}.`, path, 'value', { expected: 'string' });
    return;
  }
  const suggestion = suggestName(value, valid, aliases);
  if (suggestion) {
    report('role-typo', `Unknown ${field} "${value}"; did you mean "${suggestion}"?`, path, 'value', { expected: suggestion });
  } else {
    report('unknown-role', `Unknown ${field} "${value}"; use one of ${valid.join(', ')}.`, path, 'value');
  }
}

type Purpose = 'sft' | 'prompt' | 'continuation' | 'implicit';

/** A `messages`-style list: message shapes, roles, content and the order of turns. */
function checkConversation(raw: unknown, path: JsonPath, report: Report, purpose: Purpose): void {
  const name = String(path[path.length - 1]);
  if (!Array.isArray(raw)) {
    report('wrong-type', `"${name}" must be a list of {role, content} messages, not ${typeName(raw)}.`, path, 'value', { expected: 'array' });
    return;
  }
  if (raw.length === 0) {
    report('empty-content', `"${name}" has no messages; add at least one.`, path, 'value');
    return;
  }
  const roles: (string | undefined)[] = [];
  raw.forEach((m, i) => roles.push(checkMessage(m, [...path, i], report)));
  checkTurnOrder(roles, raw, path, report, 'role', purpose);
}

/** One message; returns its role when valid. */
function checkMessage(m: unknown, path: JsonPath, report: Report): string | undefined {
  if (!isObject(m)) {
    report('wrong-type', `Each message must be an object {"role", "content"}, not ${typeName(m)}.`, path, 'value', { expected: 'object' });
    return undefined;
  }
  let role: string | undefined;
  if (!('role' in m)) report('missing-field', 'This message has no "role"; add one of system, user, assistant, tool.', path, 'value', { field: 'role' });
  else if (typeof m.role === 'string' && MESSAGE_ROLES.includes(m.role)) role = m.role;
  else reportRole(m.role, [...path, 'role'], report, MESSAGE_ROLES, ROLE_ALIASES, 'role');

  const hasToolCalls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
  if (m.tool_calls !== undefined && m.tool_calls !== null && !Array.isArray(m.tool_calls)) {
    report('wrong-type', '"tool_calls" must be a list of calls.', [...path, 'tool_calls'], 'value', { expected: 'array' });
  }
  if (!('content' in m)) {
    if (!hasToolCalls) report('missing-field', 'This message has no "content"; add the text of the turn.', path, 'value', { field: 'content' });
    return role;
  }
  checkContent(m.content, [...path, 'content'], report, hasToolCalls || role === 'system');
  return role;
}

function checkContent(content: unknown, path: JsonPath, report: Report, mayBeEmpty: boolean): void {
  if (content === null && mayBeEmpty) return;
  const text = flattenContent(content);
  if (text === undefined || content === null) {
    report('wrong-type', `"content" must be a string or a list of {"type": "text", "text"} parts, not ${typeName(content)}.`, path, 'value', { expected: 'string' });
    return;
  }
  if (Array.isArray(content)) {
    content.forEach((part, i) => {
      if (isObject(part) && part.type !== undefined && part.type !== 'text') {
        report('non-text-content', `This content part is "${String(part.type)}"; Anneal trains on text only, so it is ignored.`, [...path, i], 'value');
      } else if (isObject(part) && typeof part.text !== 'string') {
        report('wrong-type', 'A text content part needs a "text" string.', [...path, i], 'value', { expected: 'string' });
      }
    });
  }
  if (!mayBeEmpty && text.trim() === '') report('empty-content', 'This message is empty; write the turn or remove it.', path, 'value');
}

/** Order rules shared by messages and ShareGPT, over roles mapped to system/user/assistant/tool. */
function checkTurnOrder(roles: (string | undefined)[], raw: unknown[], path: JsonPath, report: Report, roleKey: string, purpose: Purpose): void {
  const name = String(path[path.length - 1]);
  let previous: string | undefined;
  let previousCallsTools = false;
  roles.forEach((role, i) => {
    if (role === 'system' && i > 0) {
      report('system-not-first', 'A system message must come first; move it to the start of the conversation.', [...path, i, roleKey], 'value');
    }
    if (role && role === previous && (role === 'user' || role === 'assistant') && !previousCallsTools) {
      report('consecutive-role', `Two "${role}" turns in a row; merge them or add the missing turn between them.`, [...path, i, roleKey], 'value');
    }
    const m = raw[i];
    previousCallsTools = isObject(m) && ((Array.isArray(m.tool_calls) && m.tool_calls.length > 0) || m.from === 'function_call');
    if (role) previous = role;
  });
  const known = roles.filter((r) => r !== undefined);
  if (known.length !== roles.length) return;
  const last = roles.length - 1;
  if (purpose === 'sft') {
    if (!roles.includes('assistant')) {
      report('no-assistant', `"${name}" has no assistant turn, so there is nothing to learn; add the assistant's reply.`, path, 'key');
    } else if (roles[last] !== 'assistant') {
      report('not-ending-with-assistant', 'The conversation ends with a non-assistant turn, which is not trained on; end it with the assistant reply or drop the last turn.', [...path, last, roleKey], 'value');
    }
  } else if (purpose === 'prompt' && roles[last] === 'assistant') {
    report('prompt-ends-with-assistant', 'The prompt ends with an assistant turn; end it with the user turn the completion answers.', [...path, last, roleKey], 'value');
  } else if (purpose === 'continuation' && roles[0] !== 'assistant') {
    report('continuation-not-assistant', `"${name}" should be the assistant's reply; start it with an assistant message.`, [...path, 0, roleKey], 'value');
  } else if (purpose === 'implicit' && roles[last] !== 'assistant') {
    report('not-ending-with-assistant', `"${name}" must end with the assistant reply being compared.`, [...path, last, roleKey], 'value');
  }
}

function checkShareGpt(record: JsonObject, report: Report): void {
  const raw = record.conversations;
  if (!Array.isArray(raw)) {
    report('wrong-type', `"conversations" must be a list of {from, value} turns, not ${typeName(raw)}.`, ['conversations'], 'value', { expected: 'array' });
    return;
  }
  if (raw.length === 0) {
    report('empty-content', '"conversations" has no turns; add at least one.', ['conversations'], 'value');
    return;
  }
  const roles = raw.map((t, i): string | undefined => {
    const path = ['conversations', i];
    if (!isObject(t)) {
      report('wrong-type', `Each turn must be an object {"from", "value"}, not ${typeName(t)}.`, path, 'value', { expected: 'object' });
      return undefined;
    }
    let role: string | undefined;
    if (!('from' in t)) report('missing-field', 'This turn has no "from"; add human, gpt, system, function_call or observation.', path, 'value', { field: 'from' });
    else if (typeof t.from === 'string' && SHAREGPT_ROLES[t.from]) role = SHAREGPT_ROLES[t.from];
    else reportRole(t.from, [...path, 'from'], report, SHAREGPT_FROM, SHAREGPT_ALIASES, 'from');
    if (!('value' in t)) report('missing-field', 'This turn has no "value"; add the text of the turn.', path, 'value', { field: 'value' });
    else if (typeof t.value !== 'string') report('wrong-type', `"value" must be a string, not ${typeName(t.value)}.`, [...path, 'value'], 'value', { expected: 'string' });
    else if (t.value.trim() === '' && role !== 'system') report('empty-content', 'This turn is empty; write it or remove it.', [...path, 'value'], 'value');
    return role;
  });
  if (record.system !== undefined && typeof record.system !== 'string') {
    report('wrong-type', '"system" must be a string.', ['system'], 'value', { expected: 'string' });
  }
  checkTurnOrder(roles, raw, ['conversations'], report, 'from', 'sft');
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
