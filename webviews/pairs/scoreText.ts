// How the inspector writes a model's scores: a margin on a card, a side's score, and the header line
// saying what scored the pairs and how many it finds backwards. Pure, so the wording is tested.
import type { PairsScoreSummary } from '../../core/protocol/webview.ts';

const n = (x: number) => x.toLocaleString('en-US');

/** A score or margin with a sign and two decimals (one past 100), e.g. "-3.31", "+0.39". */
export function formatScore(value: number): string {
  const abs = Math.abs(value);
  const text = abs >= 100 ? abs.toFixed(1) : abs.toFixed(2);
  if (Number(text) === 0) return '0.00';
  return `${value < 0 ? '-' : '+'}${text}`;
}

/** The tooltip of a card's margin. */
export function marginTitle(score: { chosen: number; rejected: number; margin: number }): string {
  const verdict = score.margin < 0 ? 'the model prefers the rejected answer: check the label' : score.margin === 0 ? 'the model has no preference' : 'the model prefers the chosen answer';
  return `margin = chosen ${formatScore(score.chosen)} − rejected ${formatScore(score.rejected)}; ${verdict}.`;
}

/** The header's sentences about the scores. */
export function scoreSummaryText(s: PairsScoreSummary): { scoredBy: string; negative: string; unscored?: string } {
  const negative = s.scored === 0
    ? 'No pair has a score now (every scored record was edited).'
    : s.negative === 0
      ? `All ${n(s.scored)} scored pairs have a margin ≥ 0: the model prefers every chosen answer.`
      : `${n(s.negative)} of ${n(s.scored)} scored pairs have a margin below 0: the model prefers their rejected answer.`;
  const unscored = s.unscored > 0 ? `${n(s.unscored)} ${s.unscored === 1 ? 'pair has' : 'pairs have'} no score (edited or added since, or too long to score).` : undefined;
  return { scoredBy: `Scored by the ${s.description}.`, negative, ...(unscored ? { unscored } : {}) };
}
