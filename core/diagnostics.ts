// The diagnostic shape every checker in core/ returns. It mirrors LSP (0-based lines, UTF-16 columns)
// so the language server passes it through unchanged and the CLI adds 1 for humans.

export type Severity = 'error' | 'warning' | 'info' | 'hint';

/** A position in a document: 0-based line, 0-based UTF-16 code unit offset within the line. */
export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface RelatedInformation {
  /** Absent when the related place is in the same file. */
  file?: string;
  range: Range;
  message: string;
}

export interface Diagnostic {
  /** Stable identifier, e.g. `json-syntax`, `duplicate-record`. Documented in the catalogue. */
  code: string;
  severity: Severity;
  /** One sentence saying what is wrong and what to do. */
  message: string;
  range: Range;
  related?: RelatedInformation[];
  /** Machine-readable payload for quick fixes (e.g. the canonical record a conversion produces). */
  data?: unknown;
}
