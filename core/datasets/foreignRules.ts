// Checks of the record formats other tools write (docs/formats.md): ShareGPT ranking pairs, KTO
// conversations, chosen_messages/rejected_messages, OpenAI preference data, Axolotl's chat-template DPO
// and input_output segments, and TRL's stepwise supervision. Same precision as Anneal's own formats:
// every problem is reported at the path of the offending key or value.

import { checkConversation, checkMessage, checkShareGptTurn, checkShareGptTurns, typeName, type Report } from './conversationRules.ts';
import type { JsonObject } from './detect.ts';
import type { JsonPath } from './jsonPositions.ts';
import { isObject } from './normalize.ts';
import type { RecordFormat } from './types.ts';

/** Where each preference format keeps its two sides (for pair diagnostics). */
export const PAIR_FIELDS: Partial<Record<RecordFormat, { chosen: string; rejected: string }>> = {
  'preference-explicit': { chosen: 'chosen', rejected: 'rejected' },
  'preference-implicit': { chosen: 'chosen', rejected: 'rejected' },
  'sharegpt-ranking': { chosen: 'chosen', rejected: 'rejected' },
  'axolotl-dpo': { chosen: 'chosen', rejected: 'rejected' },
  'preference-messages': { chosen: 'chosen_messages', rejected: 'rejected_messages' },
  'openai-preference': { chosen: 'preferred_output', rejected: 'non_preferred_output' },
};

/** Problems of a record in one of the formats above. */
export function checkForeignRecord(record: JsonObject, format: RecordFormat, report: Report): void {
  switch (format) {
    case 'sharegpt-ranking':
      checkShareGptTurns(record.conversations, ['conversations'], report, 'prompt');
      for (const side of ['chosen', 'rejected']) checkShareGptReply(record, side, report);
      break;
    case 'unpaired-conversation':
      if ('messages' in record) checkConversation(record.messages, ['messages'], report, 'kto');
      else checkShareGptTurns(record.conversations, ['conversations'], report, 'kto');
      break;
    case 'preference-messages':
      for (const side of ['chosen_messages', 'rejected_messages']) {
        if (requirePresent(record, side, ['chosen_messages', 'rejected_messages'], report)) checkConversation(record[side], [side], report, 'implicit');
      }
      break;
    case 'openai-preference':
      checkOpenAiPreference(record, report);
      break;
    case 'axolotl-dpo':
      checkConversation(record.messages, ['messages'], report, 'prompt');
      for (const side of ['chosen', 'rejected']) checkAxolotlReply(record, side, report);
      break;
    case 'segments':
      checkSegments(record.segments, report);
      break;
    case 'stepwise':
      checkStepwise(record, report);
      break;
  }
}

/** Reports a missing required field at the record's first present sibling; true when present. */
function requirePresent(record: JsonObject, field: string, siblings: string[], report: Report, at: JsonPath = []): boolean {
  if (field in record) return true;
  const present = siblings.find((f) => f in record);
  const where = present ? [...at, present] : at;
  report('missing-field', `The record has no "${field}"; add it (${siblings.join(', ')} are required).`, where, present ? 'key' : at.length ? 'value' : 'firstKey', { field });
  return false;
}

/** `chosen`/`rejected` of ShareGPT ranking data: one `{from, value}` turn (or a list of them) by the assistant. */
function checkShareGptReply(record: JsonObject, side: string, report: Report): void {
  if (!requirePresent(record, side, ['conversations', 'chosen', 'rejected'], report)) return;
  const v = record[side];
  if (Array.isArray(v)) {
    checkShareGptTurns(v, [side], report, 'continuation');
    return;
  }
  const role = checkShareGptTurn(v, [side], report);
  if (role && role !== 'assistant') report('continuation-not-assistant', `"${side}" is the reply being compared, so it should come from "gpt".`, [side, 'from'], 'value');
}

/** `chosen`/`rejected` of Axolotl's chat-template DPO: one assistant message object (or a list, or plain text). */
function checkAxolotlReply(record: JsonObject, side: string, report: Report): void {
  if (!requirePresent(record, side, ['messages', 'chosen', 'rejected'], report)) return;
  const v = record[side];
  if (typeof v === 'string') {
    if (v.trim() === '') report('empty-content', `"${side}" is empty; write the reply or remove the record.`, [side], 'value');
    return;
  }
  if (Array.isArray(v)) {
    checkConversation(v, [side], report, 'continuation');
    return;
  }
  const role = checkMessage(v, [side], report);
  if (role && role !== 'assistant') report('continuation-not-assistant', `"${side}" is the reply being compared, so its role should be "assistant".`, [side, 'role'], 'value');
}

function checkOpenAiPreference(record: JsonObject, report: Report): void {
  const sides = ['input', 'preferred_output', 'non_preferred_output'];
  if (requirePresent(record, 'input', sides, report)) {
    const input = record.input;
    if (!isObject(input)) report('wrong-type', `"input" must be an object {"messages": [...]}, not ${typeName(input)}.`, ['input'], 'value', { expected: 'object' });
    else if (!('messages' in input)) report('missing-field', '"input" has no "messages"; add the prompt turns.', ['input'], 'key', { field: 'messages' });
    else {
      checkConversation(input.messages, ['input', 'messages'], report, 'prompt');
      if ('tools' in input && !Array.isArray(input.tools)) report('wrong-type', '"tools" must be a list of tool definitions.', ['input', 'tools'], 'value', { expected: 'array' });
      if ('parallel_tool_calls' in input && typeof input.parallel_tool_calls !== 'boolean') report('wrong-type', '"parallel_tool_calls" must be true or false.', ['input', 'parallel_tool_calls'], 'value', { expected: 'boolean' });
    }
  }
  for (const side of ['preferred_output', 'non_preferred_output']) {
    if (requirePresent(record, side, sides, report)) checkConversation(record[side], [side], report, 'continuation');
  }
}

function checkSegments(raw: unknown, report: Report): void {
  if (!Array.isArray(raw)) {
    report('wrong-type', `"segments" must be a list of {"label", "text"} pieces, not ${typeName(raw)}.`, ['segments'], 'value', { expected: 'array' });
    return;
  }
  if (raw.length === 0) {
    report('empty-content', '"segments" is empty; add the text pieces.', ['segments'], 'value');
    return;
  }
  let trained = false;
  let usable = true;
  raw.forEach((seg, i) => {
    const path = ['segments', i];
    if (!isObject(seg)) {
      report('wrong-type', `Each segment must be an object {"label", "text"}, not ${typeName(seg)}.`, path, 'value', { expected: 'object' });
      usable = false;
      return;
    }
    if (!('text' in seg)) report('missing-field', 'This segment has no "text"; add its text.', path, 'value', { field: 'text' });
    else if (typeof seg.text !== 'string') report('wrong-type', `"text" must be a string, not ${typeName(seg.text)}.`, [...path, 'text'], 'value', { expected: 'string' });
    if (!('label' in seg)) report('missing-field', 'This segment has no "label"; add true (trained on) or false (context only).', path, 'value', { field: 'label' });
    else if (typeof seg.label !== 'boolean') report('wrong-type', '"label" must be true (trained on) or false (context only).', [...path, 'label'], 'value', { expected: 'boolean' });
    else if (seg.label) trained = true;
    if (typeof seg.text !== 'string' || typeof seg.label !== 'boolean') usable = false;
  });
  if (usable && !trained) report('no-trained-segment', 'No segment has "label": true, so nothing in this record is trained on; label the part the model should learn.', ['segments'], 'key');
}

function checkStepwise(record: JsonObject, report: Report): void {
  const fields = ['prompt', 'completions', 'labels'];
  if (requirePresent(record, 'prompt', fields, report)) {
    const prompt = record.prompt;
    if (typeof prompt === 'string') {
      if (prompt.trim() === '') report('empty-prompt', '"prompt" is empty; give it the problem the steps solve.', ['prompt'], 'value');
    } else if (Array.isArray(prompt)) checkConversation(prompt, ['prompt'], report, 'prompt');
    else report('wrong-type', `"prompt" must be a string or a list of messages, not ${typeName(prompt)}.`, ['prompt'], 'value', { expected: 'string' });
  }
  const steps = requirePresent(record, 'completions', fields, report) ? record.completions : undefined;
  const labels = requirePresent(record, 'labels', fields, report) ? record.labels : undefined;
  if (steps !== undefined) {
    if (!Array.isArray(steps)) report('wrong-type', `"completions" must be a list of step strings, not ${typeName(steps)}.`, ['completions'], 'value', { expected: 'array' });
    else if (steps.length === 0) report('empty-content', '"completions" has no steps; add at least one.', ['completions'], 'value');
    else {
      steps.forEach((s, i) => {
        if (typeof s !== 'string') report('wrong-type', `Each step must be a string, not ${typeName(s)}.`, ['completions', i], 'value', { expected: 'string' });
        else if (s.trim() === '') report('empty-content', 'This step is empty; write it or remove it (and its label).', ['completions', i], 'value');
      });
    }
  }
  if (labels !== undefined) {
    if (!Array.isArray(labels)) report('wrong-type', `"labels" must be a list of true/false, one per step, not ${typeName(labels)}.`, ['labels'], 'value', { expected: 'array' });
    else {
      labels.forEach((l, i) => {
        if (typeof l !== 'boolean') report('wrong-type', 'Each label must be true (a correct step) or false.', ['labels', i], 'value', { expected: 'boolean' });
      });
      if (Array.isArray(steps) && steps.length !== labels.length) {
        report('labels-mismatch', `"completions" has ${steps.length} step${steps.length === 1 ? '' : 's'} but "labels" has ${labels.length}; give one label per step.`, ['labels'], 'value', { steps: steps.length, labels: labels.length });
      }
    }
  }
}
