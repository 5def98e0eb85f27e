// Exact positions inside one JSON line. The fast path uses JSON.parse, which gives no positions;
// only a line that has a problem is parsed again with jsonc-parser to find the key or value to
// underline. jsonc-parser recurses per nesting level, so very deep lines skip it (see MAX_TREE_DEPTH).

import { parseTree, findNodeAtLocation, parse, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';

/** A JSON path inside a record: keys and array indexes. */
export type JsonPath = (string | number)[];

/** What to underline at a path: the property's key, its value, or the first key of the object there. */
export type PathTarget = 'key' | 'value' | 'firstKey';

/** Character span within a line (UTF-16 offsets, end exclusive). */
export interface Span {
  start: number;
  end: number;
}

/** Deeper lines are not handed to jsonc-parser (its recursive descent would overflow the stack). */
export const MAX_TREE_DEPTH = 1000;

/** True when the line nests arrays/objects deeper than `limit` (strings are skipped). */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > limit) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

const ERROR_HINTS: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':' after the property name",
  CommaExpected: "expected ',' or a closing bracket/brace here",
  CloseBraceExpected: "expected '}' to close the object",
  CloseBracketExpected: "expected ']' to close the array",
  EndOfFileExpected: 'unexpected text after the end of the JSON value (one record per line)',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'the string is not closed on this line',
  UnexpectedEndOfNumber: 'invalid number',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape sequence',
  InvalidCharacter: 'control characters must be escaped inside strings',
};

/** Where and why a line that JSON.parse rejected is invalid. */
export function locateSyntaxError(text: string, v8Message: string): Span & { reason: string } {
  if (!nestsDeeperThan(text, MAX_TREE_DEPTH)) {
    const errors: ParseError[] = [];
    parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    const first = errors[0];
    if (first) {
      const name = printParseErrorCode(first.error);
      const start = Math.min(first.offset, Math.max(0, text.length - 1));
      return { start, end: Math.min(text.length, start + Math.max(1, first.length)), reason: ERROR_HINTS[name] ?? name };
    }
  }
  // jsonc-parser is laxer than JSON (e.g. it accepts non-breaking spaces as whitespace): use V8's offset.
  const m = /at position (\d+)/.exec(v8Message);
  let at = m ? Number(m[1]) : firstNonJsonWhitespace(text);
  at = Math.max(0, Math.min(at, text.length - 1));
  return { start: at, end: Math.min(text.length, at + 1), reason: v8Message.replace(/\s*\(line \d+ column \d+\)$/, '') };
}

function firstNonJsonWhitespace(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 127) return i;
  }
  return 0;
}

/** Lazily built jsonc tree of one line, for resolving paths to spans. */
export class LinePositions {
  private root: Node | undefined | null = null;

  constructor(private readonly text: string) {}

  private tree(): Node | undefined {
    if (this.root === null) {
      this.root = nestsDeeperThan(this.text, MAX_TREE_DEPTH) ? undefined : parseTree(this.text, [], { disallowComments: true });
    }
    return this.root;
  }

  /** The span of `target` at `path`; falls back to the nearest existing ancestor, then to the line's content. */
  span(path: JsonPath, target: PathTarget): Span {
    const root = this.tree();
    if (root) {
      for (let depth = path.length; depth >= 0; depth--) {
        const node = findNodeAtLocation(root, path.slice(0, depth));
        if (!node) continue;
        const exact = depth === path.length;
        const want: PathTarget = exact ? target : 'value';
        if (want === 'firstKey' && node.type === 'object') {
          const key = node.children?.[0]?.children?.[0];
          if (key) return { start: key.offset, end: key.offset + key.length };
          return { start: node.offset, end: node.offset + 1 };
        }
        if (want === 'key' && node.parent?.type === 'property') {
          const key = node.parent.children?.[0];
          if (key) return { start: key.offset, end: key.offset + key.length };
        }
        if (depth === 0) return firstKeyOrContent(node, this.text);
        return { start: node.offset, end: node.offset + node.length };
      }
    }
    return contentSpan(this.text);
  }
}

function firstKeyOrContent(node: Node, text: string): Span {
  // The whole record is never underlined: point at its first key instead.
  const key = node.type === 'object' ? node.children?.[0]?.children?.[0] : undefined;
  if (key) return { start: key.offset, end: key.offset + key.length };
  return node.type === 'object' ? { start: node.offset, end: node.offset + 1 } : contentSpan(text);
}

/** The line without leading/trailing whitespace. */
export function contentSpan(text: string): Span {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) <= 32) start++;
  while (end > start && text.charCodeAt(end - 1) <= 32) end--;
  return end > start ? { start, end } : { start: 0, end: text.length };
}

/** The span of the first key of a one-line object, by a cheap scan (no parse). */
export function firstKeySpan(text: string): Span {
  let i = 0;
  while (i < text.length && text.charCodeAt(i) !== 123) i++;
  i++;
  while (i < text.length && text.charCodeAt(i) <= 32) i++;
  if (text.charCodeAt(i) !== 34) return { start: Math.max(0, i - 1), end: Math.max(1, i) };
  const start = i;
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return { start, end: i + 1 };
  }
  return { start, end: text.length };
}
