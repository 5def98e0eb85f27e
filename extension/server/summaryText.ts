// The one-line file summary shown in the status bar ("1,204 records · 3 errors · SFT messages").
import type { DatasetKind, DatasetSummary, RecordFormat } from '../../core/datasets/types.ts';

const kindLabels: Record<DatasetKind, string> = {
  sft: 'SFT',
  preference: 'preference',
  'prompt-only': 'prompt-only',
  text: 'text',
  'unpaired-preference': 'KTO',
  'stepwise-supervision': 'stepwise supervision',
};

/** Problem counts as a short phrase: `3 errors`, `2 warnings`, or `no problems`. */
export function problemPhrase(errors: number, warnings: number): string {
  const parts: string[] = [];
  if (errors > 0) parts.push(`${fmt(errors)} error${errors === 1 ? '' : 's'}`);
  if (warnings > 0) parts.push(`${fmt(warnings)} warning${warnings === 1 ? '' : 's'}`);
  return parts.length > 0 ? parts.join(' · ') : 'no problems';
}

/** `1,204 records · 3 errors · SFT messages`. */
export function datasetSummaryText(summary: DatasetSummary): string {
  const parts = [`${fmt(summary.records)} record${summary.records === 1 ? '' : 's'}`, problemPhrase(summary.errors, summary.warnings)];
  const formats = (Object.entries(summary.formats) as [RecordFormat, number][])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([f]) => f);
  const formatText = formats.length === 0 ? '' : formats.length === 1 ? formats[0]! : `mixed (${formats.slice(0, 3).join(', ')})`;
  const kind = summary.kind ? kindLabels[summary.kind] : '';
  const tail = [kind, formatText].filter(Boolean).join(' ');
  if (tail) parts.push(tail);
  return parts.join(' · ');
}

/** `Recipe · 1 error`. */
export function recipeSummaryText(errors: number, warnings: number): string {
  return `Recipe · ${problemPhrase(errors, warnings)}`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
