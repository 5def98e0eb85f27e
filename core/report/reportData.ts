// The dataset report page's data, computed from a DatasetReport (the same core/datasets code the
// language server runs, so both show the same numbers).

import type { DatasetReport } from '../datasets/types.ts';
import type { Severity } from '../diagnostics.ts';
import type { ReportDataMessage } from '../protocol/webview.ts';
import { lengthHistogram } from './histogram.ts';

/** Most diagnostics and duplicates listed on the page; counts stay exact. */
export const REPORT_LIST_CAP = 500;

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2, hint: 3 };

/** Builds the `report/data` message. `report` should be uncapped (maxDiagnostics Infinity) for exact per-code counts. */
export function reportData(file: string, report: DatasetReport, options: { tokenizer?: string; cap?: number } = {}): ReportDataMessage {
  const cap = options.cap ?? REPORT_LIST_CAP;
  const byCodeMap = new Map<string, { code: string; severity: Severity; count: number }>();
  const duplicates: ReportDataMessage['duplicates'] = [];
  let duplicateTotal = 0;
  for (const d of report.diagnostics) {
    const entry = byCodeMap.get(d.code);
    if (entry) entry.count++;
    else byCodeMap.set(d.code, { code: d.code, severity: d.severity, count: 1 });
    if (d.code === 'duplicate-record') {
      duplicateTotal++;
      const first = (d.data as { firstLine?: unknown } | undefined)?.firstLine;
      if (duplicates.length < cap && typeof first === 'number') duplicates.push({ line: d.range.start.line, firstLine: first });
    }
  }
  const byCode = [...byCodeMap.values()].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.count - a.count || a.code.localeCompare(b.code));
  const useTokens = options.tokenizer !== undefined && report.summary.tokens !== undefined;
  const lengths: number[] = [];
  for (const r of report.records) {
    const v = useTokens ? r.tokens : r.chars;
    if (v !== undefined) lengths.push(v);
  }
  const histogram = lengthHistogram(lengths);
  const message: ReportDataMessage = {
    type: 'report/data',
    file,
    summary: report.summary,
    byCode,
    histogram: { unit: useTokens ? 'tokens' : 'characters', edges: histogram.edges, counts: histogram.counts },
    duplicates,
    diagnostics: report.diagnostics.slice(0, cap),
    truncated: report.truncated || report.diagnostics.length > cap || duplicateTotal > duplicates.length,
  };
  if (useTokens) message.tokenizer = options.tokenizer;
  return message;
}
