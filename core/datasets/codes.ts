// The dataset diagnostic catalogue: every code the checker can emit, with its fixed severity.
// Codes are a public contract (CLI --json, quick fixes, docs/diagnostics.md); never rename one.

import type { Severity } from '../diagnostics.ts';

export const DATASET_CODES = {
  // Line and encoding
  'json-syntax': 'error',
  'not-object': 'error',
  'not-jsonl': 'error',
  'empty-line': 'warning',
  bom: 'warning',
  'mixed-line-endings': 'info',
  'invalid-utf8': 'error',
  'replacement-char': 'warning',
  'nul-byte': 'error',
  'line-too-large': 'warning',
  // Record schema
  'unknown-format': 'error',
  'missing-field': 'error',
  'wrong-type': 'error',
  'empty-content': 'error',
  'unknown-field': 'info',
  'inconsistent-style': 'error',
  'non-text-content': 'warning',
  // Conversations
  'unknown-role': 'error',
  'role-typo': 'error',
  'system-not-first': 'warning',
  'consecutive-role': 'warning',
  'no-assistant': 'error',
  'not-ending-with-assistant': 'warning',
  'continuation-not-assistant': 'warning',
  'no-user': 'warning',
  'no-completion': 'error',
  'no-trained-segment': 'error',
  'labels-mismatch': 'error',
  // Preference and prompts
  'identical-pair': 'error',
  'implicit-prefix-mismatch': 'error',
  'prompt-ends-with-assistant': 'warning',
  'empty-prompt': 'error',
  'missing-column': 'error',
  // Length
  'too-long': 'warning',
  'too-long-chars': 'warning',
  // Whole file
  'wrong-kind': 'error',
  'mixed-formats': 'warning',
  'mixed-styles': 'warning',
  'duplicate-record': 'warning',
  'near-duplicate': 'info',
  'length-bias': 'warning',
  'polite-prefix-bias': 'warning',
  'low-prompt-diversity': 'info',
} as const satisfies Record<string, Severity>;

export type DatasetCode = keyof typeof DATASET_CODES;

/** The fixed severity of a dataset diagnostic code. */
export function severityOf(code: DatasetCode): Severity {
  return DATASET_CODES[code];
}
