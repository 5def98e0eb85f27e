// Completion inside a JSONL record: field names for the record's (or the file's) format, message
// fields inside `messages`/`conversations`, and role values. Works on the one line under the cursor,
// parsed leniently by jsonc-parser, so it helps while the line is still invalid.
import { getLocation } from 'jsonc-parser';
import { CompletionItemKind, type CompletionItem, type Position, type Range } from 'vscode-languageserver/node';
import { SHAREGPT_ROLES } from '../../core/datasets/normalize.ts';
import type { RecordFormat } from '../../core/datasets/types.ts';

/** Top-level fields of each format, required ones first. */
const FORMAT_FIELDS: Record<RecordFormat, string[]> = {
  messages: ['messages', 'tools'],
  sharegpt: ['conversations', 'system', 'tools'],
  alpaca: ['instruction', 'input', 'output', 'system', 'history'],
  'prompt-completion': ['prompt', 'completion'],
  'preference-explicit': ['prompt', 'chosen', 'rejected'],
  'preference-implicit': ['chosen', 'rejected'],
  'prompt-only': ['prompt'],
  text: ['text'],
  'unpaired-preference': ['prompt', 'completion', 'label'],
  'sharegpt-ranking': ['conversations', 'chosen', 'rejected', 'system'],
  'unpaired-conversation': ['messages', 'label'],
  'preference-messages': ['chosen_messages', 'rejected_messages'],
  'openai-preference': ['input', 'preferred_output', 'non_preferred_output'],
  'axolotl-dpo': ['messages', 'chosen', 'rejected'],
  segments: ['segments'],
  stepwise: ['prompt', 'completions', 'labels'],
};
const MESSAGE_FIELDS = ['role', 'content', 'tool_calls', 'name', 'tool_call_id', 'reasoning_content'];
const SHAREGPT_TURN_FIELDS = ['from', 'value'];
const ROLES = ['system', 'user', 'assistant', 'tool'];
const TURN_LISTS = new Set(['messages', 'prompt', 'completion', 'chosen', 'rejected']);

/** Completion items at `position` in `lineText`; `format` is the record's or, failing that, the file's. */
export function completeInRecord(lineText: string, position: Position, format: RecordFormat | undefined): CompletionItem[] {
  const offset = Math.min(position.character, lineText.length);
  const location = getLocation(lineText, offset);
  const path = location.path;
  const node = location.previousNode;
  // Replace the string being typed (quotes included) or insert at the cursor.
  const range: Range =
    node && node.offset <= offset && offset <= node.offset + node.length
      ? { start: { line: position.line, character: node.offset }, end: { line: position.line, character: node.offset + node.length } }
      : { start: position, end: position };
  const inString = range.start.character !== range.end.character;
  const parent = path.slice(0, -1);

  if (location.isAtPropertyKey) {
    let fields: { name: string; detail: string }[] = [];
    if (parent.length === 0) {
      const formats = format ? [format] : (Object.keys(FORMAT_FIELDS) as RecordFormat[]);
      const seen = new Set<string>();
      for (const f of formats) {
        for (const name of FORMAT_FIELDS[f]) {
          if (!seen.has(name)) fields.push({ name, detail: `${f} record field` });
          seen.add(name);
        }
      }
    } else if (parent.length === 2 && typeof parent[1] === 'number' && parent[0] === 'conversations') {
      fields = SHAREGPT_TURN_FIELDS.map((name) => ({ name, detail: 'sharegpt turn field' }));
    } else if (parent.length === 2 && typeof parent[1] === 'number' && TURN_LISTS.has(String(parent[0]))) {
      fields = MESSAGE_FIELDS.map((name) => ({ name, detail: 'message field' }));
    }
    const present = presentKeys(lineText, parent);
    return fields
      .filter((f) => !present.has(f.name))
      .map((f, i) => ({
        label: f.name,
        kind: CompletionItemKind.Property,
        detail: f.detail,
        sortText: String(i).padStart(3, '0'),
        textEdit: { range, newText: inString ? `"${f.name}"` : `"${f.name}": ` },
      }));
  }

  const key = path[path.length - 1];
  if (key === 'role' && path.length === 3 && TURN_LISTS.has(String(path[0]))) {
    return values(ROLES, 'message role', range);
  }
  if (key === 'from' && path.length === 3 && path[0] === 'conversations') {
    return values(Object.keys(SHAREGPT_ROLES), 'sharegpt speaker', range);
  }
  return [];
}

function values(list: string[], detail: string, range: Range): CompletionItem[] {
  return list.map((v, i) => ({
    label: v,
    kind: CompletionItemKind.EnumMember,
    detail,
    sortText: String(i).padStart(3, '0'),
    textEdit: { range, newText: JSON.stringify(v) },
  }));
}

/** Keys already present in the object at `path`, so completion does not offer them twice. */
function presentKeys(lineText: string, path: (string | number)[]): Set<string> {
  const out = new Set<string>();
  try {
    let value: unknown = JSON.parse(lineText);
    for (const segment of path) value = (value as Record<string | number, unknown>)?.[segment];
    if (value && typeof value === 'object' && !Array.isArray(value)) for (const k of Object.keys(value)) out.add(k);
  } catch {
    // An unfinished line: offer everything.
  }
  return out;
}
