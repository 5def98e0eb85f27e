// Small helpers for dataset tests: run the checker and look at diagnostics by code, line and the
// exact text their range covers.

import { checkDataset, type DatasetCheckOptions, type DatasetReport } from '../../../core/datasets/index.ts';
import type { Diagnostic } from '../../../core/diagnostics.ts';

export function check(lines: string[] | string, options: DatasetCheckOptions = {}): DatasetReport {
  return checkDataset(Array.isArray(lines) ? lines.join('\n') + '\n' : lines, options);
}

/** The text a diagnostic's range covers (ranges are single-line for datasets). */
export function covered(text: string, d: Diagnostic): string {
  const line = text.split('\n')[d.range.start.line].replace(/\r$/, '');
  return line.slice(d.range.start.character, d.range.end.character);
}

/** `line:code` of every diagnostic, for compact assertions. */
export function summary(report: DatasetReport): string[] {
  return report.diagnostics.map((d) => `${d.range.start.line}:${d.code}`);
}

export function byCode(report: DatasetReport, code: string): Diagnostic[] {
  return report.diagnostics.filter((d) => d.code === code);
}

export const msg = (role: string, content: unknown, extra: Record<string, unknown> = {}) => ({ role, content, ...extra });
export const chat = (...turns: [string, string][]) => JSON.stringify({ messages: turns.map(([r, c]) => msg(r, c)) });
