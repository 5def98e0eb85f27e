// The server's copy of a document as an array of lines, updated in place from LSP incremental
// changes. Each change is also reported as a line-range replacement, which is exactly what
// DatasetModel.applyEdit takes, so a one-line edit never re-splits a 100k-line file.

/** One LSP content change: a range replacement, or the whole text when `range` is absent. */
export interface ContentChange {
  range?: { start: { line: number; character: number }; end: { line: number; character: number } };
  text: string;
}

/** A replacement of lines [startLine, endLineExclusive) by newLines, in the coordinates before it. */
export interface LineEdit {
  startLine: number;
  endLineExclusive: number;
  newLines: string[];
}

/** Splits text into lines the way the checker does: on `\n`, keeping any `\r` (CRLF is its own diagnostic). */
export function splitLines(text: string): string[] {
  return text.split('\n');
}

/** A mutable line buffer. */
export class TextLines {
  private lines: string[];

  constructor(text: string) {
    this.lines = splitLines(text);
  }

  get lineCount(): number {
    return this.lines.length;
  }

  /** The line's text including a trailing `\r` if the file has one; '' past the end. */
  line(index: number): string {
    return this.lines[index] ?? '';
  }

  /** The line without its `\r`, as an editor shows it. */
  lineContent(index: number): string {
    const text = this.line(index);
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  }

  getText(): string {
    return this.lines.join('\n');
  }

  /** Applies one content change and returns the line edit it amounts to. */
  apply(change: ContentChange): LineEdit {
    if (!change.range) {
      const before = this.lines.length;
      this.lines = splitLines(change.text);
      return { startLine: 0, endLineExclusive: before, newLines: this.lines.slice() };
    }
    const last = this.lines.length - 1;
    const start = clampPosition(change.range.start, last, (l) => this.lineContent(l).length);
    let end = clampPosition(change.range.end, last, (l) => this.lineContent(l).length);
    if (end.line < start.line || (end.line === start.line && end.character < start.character)) end = start;
    const prefix = this.line(start.line).slice(0, start.character);
    const suffix = this.line(end.line).slice(end.character);
    const newLines = splitLines(prefix + change.text + suffix);
    const removed = end.line - start.line + 1;
    if (newLines.length < 50_000) {
      this.lines.splice(start.line, removed, ...newLines);
    } else {
      // Spreading a huge paste into splice's arguments would overflow the call stack.
      this.lines = this.lines.slice(0, start.line).concat(newLines, this.lines.slice(end.line + 1));
    }
    return { startLine: start.line, endLineExclusive: end.line + 1, newLines };
  }
}

function clampPosition(
  pos: { line: number; character: number },
  lastLine: number,
  lengthOf: (line: number) => number,
): { line: number; character: number } {
  if (pos.line > lastLine) return { line: lastLine, character: lengthOf(lastLine) };
  const line = Math.max(0, pos.line);
  return { line, character: Math.max(0, Math.min(pos.character, lengthOf(line))) };
}
