// A recipe's YAML (or JSON, which is YAML) parsed with source ranges, so every diagnostic can point at
// the exact key or value it is about.

import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Diagnostic, Position, Range } from '../diagnostics.ts';
import { RECIPE_CODES } from './codes.ts';

export interface RecipeDocument {
  text: string;
  doc: Document.Parsed;
  /** Offsets of the start of each line, for offset -> position. */
  lineStarts: number[];
  /**
   * A pipeline stage's view of the document (pipeline.ts): a key the stage item sets is found under
   * `prefix` (['stages', 2]), every other key at the top, where the shared defaults are.
   */
  scope?: { prefix: (string | number)[]; own: ReadonlySet<string> };
}

/** `path` as it lies in the text: under the stage item when the scope's item sets its first key. */
export function textPath(document: RecipeDocument, path: (string | number)[]): (string | number)[] {
  const scope = document.scope;
  return scope && path.length > 0 && scope.own.has(String(path[0])) ? [...scope.prefix, ...path] : path;
}

/** Parse recipe text; YAML syntax errors come back as diagnostics with their exact positions. */
export function parseRecipeText(text: string): { document: RecipeDocument; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  // uniqueKeys (default) reports duplicates; merge keys (`<<`) are allowed for recipes that share blocks.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, logLevel: 'error' });
  const document: RecipeDocument = { text, doc, lineStarts: lineCounter.lineStarts };
  const diagnostics: Diagnostic[] = doc.errors.map((err) => {
    const duplicate = err.code === 'DUPLICATE_KEY';
    const [start, errEnd] = err.pos;
    // yaml marks one character of a duplicate key; widen it to the whole key.
    const end = duplicate ? keyEndAt(doc, start) ?? errEnd : errEnd;
    return {
      code: duplicate ? 'recipe-duplicate-key' : 'recipe-yaml-syntax',
      severity: RECIPE_CODES[duplicate ? 'recipe-duplicate-key' : 'recipe-yaml-syntax'],
      message: duplicate
        ? 'This key appears twice in the same mapping; keep one of them.'
        : `YAML syntax error: ${firstLine(err.message)}; fix the text here.`,
      range: rangeOf(document, start, Math.max(end, start)),
    };
  });
  return { document, diagnostics };
}

/** End offset of the mapping key that starts at `offset`, if one does. */
function keyEndAt(doc: Document.Parsed, offset: number): number | undefined {
  let end: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key = pair.key as Node | null;
      if (key?.range && key.range[0] === offset) {
        end = key.range[1];
        return visit.BREAK;
      }
    },
  });
  return end;
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/\s*at line \d+, column \d+:?$/, '').replace(/\.$/, '');
}

/** Offset (UTF-16 units) -> 0-based LSP position. */
export function positionAt(document: RecipeDocument, offset: number): Position {
  const starts = document.lineStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: Math.max(0, Math.min(offset, document.text.length) - starts[lo]) };
}

export function rangeOf(document: RecipeDocument, start: number, end: number): Range {
  return { start: positionAt(document, start), end: positionAt(document, end) };
}

/** Range of a node's own text (without trailing comments). */
export function nodeRange(document: RecipeDocument, node: Node | null | undefined): Range | undefined {
  if (!node?.range) return undefined;
  const [start, valueEnd] = node.range;
  return rangeOf(document, start, valueEnd);
}

/** The first line of the document (a stage's own item in a pipeline), where problems with no better place are shown. */
export function documentStartRange(document: RecipeDocument): Range {
  if (document.scope) {
    const item = locate({ ...document, scope: undefined }, [...document.scope.prefix, 'stage']);
    const range = item.found ? nodeRange(document, item.key) : undefined;
    if (range) return range;
  }
  const firstLineEnd = document.text.search(/\r?\n|$/);
  return { start: { line: 0, character: 0 }, end: { line: 0, character: Math.max(0, firstLineEnd) } };
}

function pairIn(map: YAMLMap, key: string): Pair<Node, Node> | undefined {
  return (map.items as Pair<Node, Node>[]).find((p) => isScalar(p.key) && String(p.key.value) === key);
}

/**
 * The pair at a JSON-pointer-like path (`['lora', 'r']`, `['samples', 'prompts', 0]`), or the
 * deepest node that exists on the way.
 */
export function locate(document: RecipeDocument, path: (string | number)[]): { key?: Node; value?: Node; found: boolean } {
  path = textPath(document, path);
  let node: unknown = document.doc.contents;
  let key: Node | undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = pairIn(node, String(part));
      if (!pair) return { key, value: node as Node, found: false };
      key = pair.key ?? undefined;
      node = pair.value;
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items) && typeof part === 'number') {
      const item = (node as { items: unknown[] }).items[part];
      if (item === undefined) return { key, value: node as Node, found: false };
      key = undefined;
      node = item;
    } else {
      return { key, value: (node as Node) ?? undefined, found: false };
    }
  }
  return { key, value: (node as Node) ?? undefined, found: true };
}

/** Range of the value at `path`, else its key, else the document start. */
export function valueRange(document: RecipeDocument, path: (string | number)[]): Range {
  const at = locate(document, path);
  return (at.found && (nodeRange(document, at.value) ?? nodeRange(document, at.key))) || documentStartRange(document);
}

/** Range of the key at `path` (the value when it has no key, e.g. a list item), else the document start. */
export function keyRange(document: RecipeDocument, path: (string | number)[]): Range {
  if (path.length === 0) return documentStartRange(document);
  const at = locate(document, path);
  return (at.found && (nodeRange(document, at.key) ?? nodeRange(document, at.value))) || documentStartRange(document);
}

/** Whether the recipe text itself sets the key at `path` (as opposed to a default filling it). */
export function hasKey(document: RecipeDocument, path: (string | number)[]): boolean {
  return locate(document, path).found;
}
