// A gate condition as a recipe writes it — `eval/loss: "< 1.5"`, `eval/perplexity: "change < -20%"`,
// `reward: "trend > 0"` — parsed into what the evaluator needs. The statistic (before the comparison)
// says which number of the metric's stream is compared: the last value (default), the best, the
// first, the mean, the relative change from the first value to the last, or the trend (the slope of
// a least-squares line through the last values, per logged point).

export type Statistic = 'last' | 'best' | 'first' | 'mean' | 'change' | 'trend';
export const STATISTICS: readonly Statistic[] = ['last', 'best', 'first', 'mean', 'change', 'trend'];
export type Comparison = '<' | '<=' | '>' | '>=';

export interface GateCondition {
  metric: string;
  statistic: Statistic;
  op: Comparison;
  /** A fraction for `change` (-20% is -0.2). */
  value: number;
  /** How the recipe (or the default) wrote it, for reports. */
  text: string;
  /** Why the condition exists (seed 004's wording for the defaults). */
  why?: string;
  /** Conditions on other metrics that must hold too ("eval/loss trend > 0 while loss trend < 0"). */
  while?: GateCondition[];
  /** 'advise': reported, never stops a pipeline (seed 004's data sizes, which small experiments miss on purpose). */
  severity?: 'block' | 'advise';
}

/** Points the trend is fitted through: the last few, so an old plateau does not hide a new rise. */
export const TREND_WINDOW = 3;

const PATTERN = /^\s*(?:(last|best|first|mean|change|trend)\s+)?(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(%)?\s*$/i;

const METRIC_PART = /^\s*([A-Za-z_][\w./-]*)\s+(.*)$/;

/**
 * Parses `"[statistic] op number[%]"`, optionally followed by `while <metric> [statistic] op number`
 * clauses; returns a string saying what is wrong when it does not parse.
 */
export function parseCondition(metric: string, text: string, why?: string): GateCondition | string {
  const [head, ...clauses] = text.split(/\s+while\s+/i);
  const first = parseSingle(metric, head!);
  if (typeof first === 'string') return first;
  const also: GateCondition[] = [];
  for (const clause of clauses) {
    const m = METRIC_PART.exec(clause);
    const other = m ? parseSingle(m[1]!, m[2]!) : `\`${clause}\` names no metric; write "while <metric> <condition>", e.g. "while loss trend < 0".`;
    if (typeof other === 'string') return other;
    also.push(other);
  }
  return { ...first, text: text.trim(), ...(why ? { why } : {}), ...(also.length ? { while: also } : {}) };
}

function parseSingle(metric: string, text: string): GateCondition | string {
  const m = PATTERN.exec(text);
  if (!m) return `\`${text}\` is not a gate condition; write a comparison and a number, e.g. "< 1.5", "change < -20%" or "trend > 0" (statistics: ${STATISTICS.join(', ')}).`;
  const statistic = (m[1]?.toLowerCase() ?? 'last') as Statistic;
  const percent = m[4] !== undefined;
  if (percent && statistic !== 'change') return `\`${text}\`: a percentage compares a relative change; write "change ${m[2]} ${m[3]}%", or drop the %.`;
  const value = Number(m[3]) / (percent ? 100 : 1);
  return { metric, statistic, op: m[2] as Comparison, value, text: text.trim() };
}

export function compare(x: number, op: Comparison, value: number): boolean {
  switch (op) {
    case '<':
      return x < value;
    case '<=':
      return x <= value;
    case '>':
      return x > value;
    case '>=':
      return x >= value;
  }
}
