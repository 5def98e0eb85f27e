// The report's "Score margins" data from a file's text and its scores: the margins of the pairs
// whose current text was scored, binned around 0. No vscode import (the panel screenshots use it too).
import { marginHistogram } from '../../../core/pairs/marginHistogram.ts';
import type { ScoredFile } from '../../../core/pairs/pairScores.ts';
import type { ReportMargins } from '../../../core/protocol/webview.ts';

/** The margins of the pairs whose current text was scored, binned, with the counts the page states. */
export function reportMargins(text: string, formats: Partial<Record<string, number>>, scores: ScoredFile): ReportMargins {
  const margins: number[] = [];
  for (const line of text.split(/\r?\n/)) {
    const score = scores.byText.get(line);
    if (score) margins.push(score.margin);
  }
  const pairs = (formats['preference-explicit'] ?? 0) + (formats['preference-implicit'] ?? 0);
  const histogram = marginHistogram(margins);
  return { description: scores.description, scored: margins.length, negative: histogram.negative, unscored: Math.max(0, pairs - margins.length), edges: histogram.edges, counts: histogram.counts };
}
