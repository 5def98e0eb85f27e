// Edits the pair inspector applies to one preference record line: swap the sides, rewrite one side,
// delete the record. Each returns the line's new text (or the range to delete). Edits replace only
// the bytes of the values they change, so every other field, the key order, number spellings,
// escapes and the line's spacing stay exactly as the author wrote them.

import { findNodeAtLocation, parseTree, type Node } from 'jsonc-parser';
import { splitImplicit } from '../datasets/normalize.ts';
import type { Range } from '../diagnostics.ts';

export type PairSide = 'chosen' | 'rejected';

/** An edit that cannot be applied to this line; the message says why and what to do instead. */
export class PairEditError extends Error {}

interface ParsedLine {
  /** The line without a leading BOM (offsets below are relative to it). */
  body: string;
  bom: string;
  root: Node;
  value: Record<string, unknown>;
}

function parseLine(line: string): ParsedLine {
  const bom = line.charCodeAt(0) === 0xfeff ? '\ufeff' : '';
  const body = bom ? line.slice(1) : line;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new PairEditError('This line is not valid JSON; fix it in the editor first.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PairEditError('This line is not a JSON object, so it is not a preference pair.');
  const root = parseTree(body);
  if (!root) throw new PairEditError('This line could not be parsed; fix it in the editor first.');
  return { body, bom, root, value: value as Record<string, unknown> };
}

function sideNode(parsed: ParsedLine, side: PairSide): Node {
  const node = findNodeAtLocation(parsed.root, [side]);
  if (!node) throw new PairEditError(`The record has no "${side}" field; it is not a complete preference pair.`);
  return node;
}

interface Replacement {
  offset: number;
  length: number;
  text: string;
}

/** Applies non-overlapping replacements to `text`. */
function replaceSpans(text: string, replacements: Replacement[]): string {
  const sorted = [...replacements].sort((a, b) => a.offset - b.offset);
  let out = '';
  let at = 0;
  for (const r of sorted) {
    out += text.slice(at, r.offset) + r.text;
    at = r.offset + r.length;
  }
  return out + text.slice(at);
}

/**
 * JSON for a new string value in the line's own style: a line written with `\uXXXX` escapes and no
 * raw non-ASCII (Python's `ensure_ascii`) gets its new text escaped the same way.
 */
export function jsonStringLike(line: string, text: string): string {
  const json = JSON.stringify(text);
  const asciiOnly = /\\u[0-9a-fA-F]{4}/.test(line) && !/[^\x00-\x7f]/.test(line);
  if (!asciiOnly) return json;
  return json.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The line with the values of `chosen` and `rejected` exchanged; everything else unchanged. */
export function swapSides(line: string): string {
  const parsed = parseLine(line);
  const chosen = sideNode(parsed, 'chosen');
  const rejected = sideNode(parsed, 'rejected');
  const text = (n: Node) => parsed.body.slice(n.offset, n.offset + n.length);
  return (
    parsed.bom +
    replaceSpans(parsed.body, [
      { offset: chosen.offset, length: chosen.length, text: text(rejected) },
      { offset: rejected.offset, length: rejected.length, text: text(chosen) },
    ])
  );
}

/**
 * The text the inspector edits for a side: a string side's continuation (after the shared prompt
 * of an implicit pair), or a conversational side's last assistant message content.
 */
export function editableSideText(line: string, side: PairSide): string {
  const parsed = parseLine(line);
  const node = sideNode(parsed, side);
  const value = parsed.value[side];
  if (node.type === 'string' && typeof value === 'string') {
    if ('prompt' in parsed.value) return value;
    const other = parsed.value[side === 'chosen' ? 'rejected' : 'chosen'];
    if (typeof other !== 'string') return value;
    const split = side === 'chosen' ? splitImplicit(value, other) : splitImplicit(other, value);
    return side === 'chosen' ? (split.chosen as string) : (split.rejected as string);
  }
  const target = assistantContentNode(node, side);
  return String(JSON.parse(parsed.body.slice(target.offset, target.offset + target.length)));
}

/**
 * The line with one side rewritten to `text`. String sides take the text (an implicit pair keeps its
 * shared prompt in front); conversational sides get it as their last assistant message's content.
 */
export function setSide(line: string, side: PairSide, text: string): string {
  const parsed = parseLine(line);
  const node = sideNode(parsed, side);
  const value = parsed.value[side];
  let target: Node;
  let newText = text;
  if (node.type === 'string' && typeof value === 'string') {
    target = node;
    if (!('prompt' in parsed.value)) {
      const other = parsed.value[side === 'chosen' ? 'rejected' : 'chosen'];
      if (typeof other === 'string') {
        const split = side === 'chosen' ? splitImplicit(value, other) : splitImplicit(other, value);
        newText = (split.prompt as string) + text;
      }
    }
  } else {
    target = assistantContentNode(node, side);
  }
  return parsed.bom + replaceSpans(parsed.body, [{ offset: target.offset, length: target.length, text: jsonStringLike(line, newText) }]);
}

/** The string node holding the last assistant message's text in a conversational side. */
function assistantContentNode(sideValue: Node, side: PairSide): Node {
  if (sideValue.type !== 'array' || !sideValue.children) throw new PairEditError(`"${side}" is neither a string nor a message list; fix it in the editor.`);
  for (let i = sideValue.children.length - 1; i >= 0; i--) {
    const message = sideValue.children[i];
    const role = findNodeAtLocation(message, ['role']);
    if (role?.value !== 'assistant') continue;
    const content = findNodeAtLocation(message, ['content']);
    if (content?.type === 'string') return content;
    // OpenAI-style parts: only a single text part can be edited as plain text unambiguously.
    const parts = content?.type === 'array' ? (content.children ?? []) : [];
    if (parts.length === 1) {
      const partText = findNodeAtLocation(parts[0], ['text']);
      if (partText?.type === 'string') return partText;
    }
    throw new PairEditError(`The last assistant message of "${side}" has no plain text content; edit it in the editor.`);
  }
  throw new PairEditError(`"${side}" has no assistant message to edit; add one in the editor.`);
}

/**
 * The range that deletes line `line` with its line break: up to the start of the next line, or for
 * the last line from the end of the previous one (so no blank line is left behind).
 */
export function deleteLineRange(line: number, lineCount: number, lineLength: (line: number) => number): Range {
  if (line < lineCount - 1) return { start: { line, character: 0 }, end: { line: line + 1, character: 0 } };
  if (line === 0) return { start: { line: 0, character: 0 }, end: { line: 0, character: lineLength(0) } };
  return { start: { line: line - 1, character: lineLength(line - 1) }, end: { line, character: lineLength(line) } };
}
