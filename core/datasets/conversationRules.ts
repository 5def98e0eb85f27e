// Checks of conversations, shared by every format that holds messages: message shapes, roles,
// content (strings, OpenAI parts, LLaMA-Factory v1 parts), tool and legacy function calls, per-message
// loss weights, and the order of turns. Problems are reported by JSON path; lineAnalysis turns paths
// into exact ranges.

import type { DatasetCode } from './codes.ts';
import type { JsonObject } from './detect.ts';
import type { JsonPath, PathTarget } from './jsonPositions.ts';
import { flattenContent, isObject, SHAREGPT_ROLES } from './normalize.ts';

/** A problem found in a record, located by path; resolved to a range later. */
export interface PendingDiagnostic {
  code: DatasetCode;
  message: string;
  path: JsonPath;
  target: PathTarget;
  data?: unknown;
}

export type Report = (code: DatasetCode, message: string, path: JsonPath, target: PathTarget, data?: unknown) => void;

/** `function` is OpenAI's legacy role for a function's result (before `tool`). */
export const MESSAGE_ROLES = ['system', 'user', 'assistant', 'tool', 'function'];
const ROLE_ALIASES: Record<string, string> = {
  human: 'user',
  gpt: 'assistant',
  bot: 'assistant',
  model: 'assistant',
  ai: 'assistant',
  chatgpt: 'assistant',
  observation: 'tool',
  developer: 'system',
};
const SHAREGPT_FROM = Object.keys(SHAREGPT_ROLES);
const SHAREGPT_ALIASES: Record<string, string> = { bot: 'gpt', model: 'gpt', ai: 'gpt', chatgpt: 'gpt', tool: 'observation' };

/** Content part types that carry no text to train on but are not mistakes (LLaMA-Factory v1). */
const SILENT_PARTS = new Set(['reasoning', 'tool_call']);

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Checks a required string field; reports and returns false when it is missing, not a string or empty. */
export function requireString(record: JsonObject, key: string, report: Report, nonEmpty: boolean, at: JsonPath = []): boolean {
  if (!(key in record)) {
    report('missing-field', `The record has no "${key}" field; add it.`, at, at.length ? 'value' : 'firstKey', { field: key });
    return false;
  }
  const v = record[key];
  if (typeof v !== 'string') {
    report('wrong-type', `"${key}" must be a string, not ${typeName(v)}.`, [...at, key], 'value', { expected: 'string' });
    return false;
  }
  if (nonEmpty && v.trim() === '') {
    report('empty-content', `"${key}" is empty; give it text or remove the record.`, [...at, key], 'value');
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

/**
 * What a list of turns is for, which decides the order rules: a whole SFT conversation, a prompt (ends
 * before the reply), a continuation (the reply), one side of an implicit-prompt pair, or a KTO example
 * (its last turn is the judged completion).
 */
export type Purpose = 'sft' | 'prompt' | 'continuation' | 'implicit' | 'kto';

/** A `messages`-style list: message shapes, roles, content and the order of turns. */
export function checkConversation(raw: unknown, path: JsonPath, report: Report, purpose: Purpose): void {
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

/** One message; returns its role (legacy `function` read as `tool`) when valid. */
export function checkMessage(m: unknown, path: JsonPath, report: Report): string | undefined {
  if (!isObject(m)) {
    report('wrong-type', `Each message must be an object {"role", "content"}, not ${typeName(m)}.`, path, 'value', { expected: 'object' });
    return undefined;
  }
  let role: string | undefined;
  if (!('role' in m)) report('missing-field', 'This message has no "role"; add one of system, user, assistant, tool.', path, 'value', { field: 'role' });
  else if (typeof m.role === 'string' && MESSAGE_ROLES.includes(m.role)) role = m.role === 'function' ? 'tool' : m.role;
  else reportRole(m.role, [...path, 'role'], report, MESSAGE_ROLES, ROLE_ALIASES, 'role');

  const callsTools = checkCalls(m, path, report);
  checkWeights(m, path, report);
  if (!('content' in m)) {
    if (!callsTools) report('missing-field', 'This message has no "content"; add the text of the turn.', path, 'value', { field: 'content' });
    return role;
  }
  checkContent(m.content, [...path, 'content'], report, callsTools || role === 'system');
  return role;
}

/** `tool_calls` (a list) and OpenAI's legacy `function_call` ({name, arguments}); true when the message calls something. */
function checkCalls(m: JsonObject, path: JsonPath, report: Report): boolean {
  let calls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
  if (m.tool_calls !== undefined && m.tool_calls !== null && !Array.isArray(m.tool_calls)) {
    report('wrong-type', '"tool_calls" must be a list of calls.', [...path, 'tool_calls'], 'value', { expected: 'array' });
  }
  const fc = m.function_call;
  if (fc !== undefined && fc !== null) {
    if (!isObject(fc) || typeof fc.name !== 'string') {
      report('wrong-type', '"function_call" must be an object {"name", "arguments"} naming the function called.', [...path, 'function_call'], 'value', { expected: 'object' });
    }
    calls = true; // even a malformed call means the content may be null: one diagnostic, not two
  }
  if (Array.isArray(m.content) && m.content.some((p) => isObject(p) && p.type === 'tool_call')) calls = true;
  return calls;
}

/** Per-message loss weights: OpenAI's `weight` (0 or 1) and LLaMA-Factory v1's `loss_weight` (a number). */
function checkWeights(m: JsonObject, path: JsonPath, report: Report): void {
  if ('weight' in m && m.weight !== 0 && m.weight !== 1) {
    report('wrong-type', '"weight" must be 0 (do not train on this message) or 1 (train on it).', [...path, 'weight'], 'value', { expected: 'number' });
  }
  if ('loss_weight' in m && (typeof m.loss_weight !== 'number' || !Number.isFinite(m.loss_weight) || m.loss_weight < 0)) {
    report('wrong-type', '"loss_weight" must be a number of at least 0 (0: not trained on).', [...path, 'loss_weight'], 'value', { expected: 'number' });
  }
}

function checkContent(content: unknown, path: JsonPath, report: Report, mayBeEmpty: boolean): void {
  if (content === null && mayBeEmpty) return;
  const text = flattenContent(content);
  if (text === undefined || content === null) {
    report('wrong-type', `"content" must be a string or a list of {"type": "text", "text"} parts, not ${typeName(content)}.`, path, 'value', { expected: 'string' });
    return;
  }
  let brokenPart = false;
  if (Array.isArray(content)) {
    content.forEach((part, i) => {
      if (!isObject(part)) return;
      const type = part.type;
      if (type === undefined || type === 'text') {
        if (typeof part.text !== 'string' && typeof part.value !== 'string') {
          brokenPart = true;
          report('wrong-type', 'A text content part needs its text as "text" (OpenAI) or "value" (LLaMA-Factory).', [...path, i], 'value', { expected: 'string' });
        }
      } else if (typeof type === 'string' && SILENT_PARTS.has(type)) {
        if (typeof part.value !== 'string') report('wrong-type', `A "${type}" part needs its text as a "value" string.`, [...path, i], 'value', { expected: 'string' });
        else if (type === 'tool_call' && !parsesAsCall(part.value)) {
          report('wrong-type', 'A "tool_call" part\'s value must be JSON {"name", "arguments"}.', [...path, i, 'value'], 'value', { expected: 'object' });
        }
      } else {
        report('non-text-content', `This content part is "${String(type)}"; Anneal trains on text only, so it is ignored.`, [...path, i], 'value');
      }
    });
  }
  if (!mayBeEmpty && !brokenPart && text.trim() === '' && !(Array.isArray(content) && content.some((p) => isObject(p) && p.type === 'reasoning'))) {
    report('empty-content', 'This message is empty; write the turn or remove it.', path, 'value');
  }
}

function parsesAsCall(value: string): boolean {
  try {
    const call: unknown = JSON.parse(value);
    return isObject(call) && typeof call.name === 'string';
  } catch {
    return false;
  }
}

/** Whether a raw message or ShareGPT turn hands over to a tool (so a second assistant turn may follow). */
function callsTools(m: unknown): boolean {
  if (!isObject(m)) return false;
  if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) return true;
  if (isObject(m.function_call)) return true;
  if (m.from === 'function_call') return true;
  return Array.isArray(m.content) && m.content.some((p) => isObject(p) && p.type === 'tool_call');
}

/** Order rules shared by messages and ShareGPT, over roles mapped to system/user/assistant/tool. */
export function checkTurnOrder(roles: (string | undefined)[], raw: unknown[], path: JsonPath, report: Report, roleKey: string, purpose: Purpose): void {
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
    previousCallsTools = callsTools(raw[i]);
    if (role) previous = role;
  });
  const known = roles.filter((r) => r !== undefined);
  if (known.length !== roles.length) return;
  const last = roles.length - 1;
  if (purpose === 'sft' || purpose === 'kto') {
    if (!roles.includes('assistant')) {
      report('no-assistant', `"${name}" has no assistant turn, so there is nothing to learn; add the assistant's reply.`, path, 'key');
      return;
    }
    if (!roles.includes('user')) {
      report('no-user', `"${name}" has no user turn, so the replies answer nothing; add the user message they respond to.`, path, 'key');
    }
    if (roles[last] !== 'assistant') {
      if (purpose === 'kto') report('no-completion', 'KTO judges the last turn as the completion, so it must be the assistant reply; end the conversation with it.', [...path, last, roleKey], 'value');
      else report('not-ending-with-assistant', 'The conversation ends with a non-assistant turn, which is not trained on; end it with the assistant reply or drop the last turn.', [...path, last, roleKey], 'value');
    }
  } else if (purpose === 'prompt' && roles[last] === 'assistant') {
    report('prompt-ends-with-assistant', 'The prompt ends with an assistant turn; end it with the user turn the completion answers.', [...path, last, roleKey], 'value');
  } else if (purpose === 'continuation' && roles[0] !== 'assistant') {
    report('continuation-not-assistant', `"${name}" should be the assistant's reply; start it with an assistant message.`, [...path, 0, roleKey], 'value');
  } else if (purpose === 'implicit' && roles[last] !== 'assistant') {
    report('not-ending-with-assistant', `"${name}" must end with the assistant reply being compared.`, [...path, last, roleKey], 'value');
  }
}

/** A ShareGPT `{from, value}` turn list. */
export function checkShareGptTurns(raw: unknown, path: JsonPath, report: Report, purpose: Purpose): void {
  const name = String(path[path.length - 1]);
  if (!Array.isArray(raw)) {
    report('wrong-type', `"${name}" must be a list of {from, value} turns, not ${typeName(raw)}.`, path, 'value', { expected: 'array' });
    return;
  }
  if (raw.length === 0) {
    report('empty-content', `"${name}" has no turns; add at least one.`, path, 'value');
    return;
  }
  const roles = raw.map((t, i) => checkShareGptTurn(t, [...path, i], report));
  checkTurnOrder(roles, raw, path, report, 'from', purpose);
}

/** One ShareGPT turn; returns the role it stands for when valid. */
export function checkShareGptTurn(t: unknown, path: JsonPath, report: Report): string | undefined {
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
}

/** Per-record fields other tools read next to a conversation (tools, template arguments): their types only. */
export function checkConversationExtras(record: JsonObject, report: Report): void {
  const expect = (key: string, ok: (v: unknown) => boolean, what: string, expected: string) => {
    if (key in record && record[key] !== null && !ok(record[key])) report('wrong-type', `"${key}" must be ${what}, not ${typeName(record[key])}.`, [key], 'value', { expected });
  };
  // LLaMA-Factory keeps `tools` as a JSON string; OpenAI and TRL as a list.
  expect('tools', (v) => Array.isArray(v) || typeof v === 'string', 'a list of tool definitions (or their JSON text)', 'array');
  expect('functions', Array.isArray, 'a list of function definitions', 'array');
  expect('parallel_tool_calls', (v) => typeof v === 'boolean', 'true or false', 'boolean');
  expect('chat_template_kwargs', isObject, 'an object of chat-template arguments', 'object');
}
