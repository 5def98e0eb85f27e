// Answer correctness (DeepSeek-R1's accuracy reward): find the completion's final answer and compare it
// with the reference in a dataset column, as numbers within a tolerance when the reference is a number,
// else as text with case, whitespace and a trailing period ignored.

import { columnValues, completionTexts, normalizeUnicode } from './text.ts';
import type { BuiltinReward, RewardConfig, RewardValues } from './types.ts';

/** The content of the last `<answer>…</answer>` (the innermost when nested), or undefined. */
export function answerTag(text: string): string | undefined {
  let from = text.length;
  while (from >= 0) {
    const open = text.lastIndexOf('<answer>', from);
    if (open < 0) return undefined;
    const close = text.indexOf('</answer>', open + 8);
    if (close >= 0) return text.slice(open + 8, close);
    from = open - 1; // an unclosed tag (a truncated completion): look for an earlier, closed one
  }
  return undefined;
}

/** The content of the last `\boxed{…}` (braces balanced; also `\boxed 5` and `\fbox{…}`), or undefined. */
export function boxed(text: string): string | undefined {
  const re = /\\(?:boxed|fbox)\s*(\{)?/g;
  let last: string | undefined;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length;
    if (!m[1]) {
      const word = /^\S+/.exec(text.slice(start));
      if (word) last = word[0].replace(/[$.,;]+$/, '');
      continue;
    }
    let depth = 1;
    let i = start;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === '\\') i++; // an escaped brace is not a brace
      else if (text[i] === '{') depth++;
      else if (text[i] === '}') depth--;
    }
    if (depth === 0) last = text.slice(start, i - 1);
  }
  return last;
}

// A number as written in prose: optional sign and currency, thousands commas, decimals, an exponent, a
// fraction. The lookbehind keeps `v2` or the `5` of `1.5` from starting a number.
const NUMBER_IN_TEXT = /(?<![\w.])[-+]?[$€£¥₹]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?/g;

/** The last number written in the text, as written, or undefined. */
export function lastNumber(text: string): string | undefined {
  return normalizeUnicode(text).match(NUMBER_IN_TEXT)?.at(-1);
}

/** Simplify the LaTeX answers carry: `\text{…}` and `\mathrm{…}` unwrapped, `\frac{a}{b}` as a/b, spacing and `$` removed. */
function stripLatex(s: string): string {
  return s
    .replace(/\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}/g, '$1')
    .replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, '($1)/($2)')
    .replace(/\\(?:left|right)\b/g, '')
    .replace(/\\[,;:! ]|~/g, ' ')
    .replace(/\\%/g, '%')
    .replace(/\\\$|\$/g, '');
}

const PLAIN_NUMBER = /^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+|(?=\.\d))(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

function plainNumber(s: string): number | undefined {
  const t = s.replace(/^\((.*)\)$/, '$1').trim();
  return PLAIN_NUMBER.test(t) ? Number(t.replaceAll(',', '')) : undefined;
}

/**
 * The number an answer states, or undefined when it is not one number: "1,000", "1e3", "-3/4",
 * "\frac{3}{4}", "$5", "5 apples", "50%", "42." (a unit word or symbol after the number is dropped).
 */
export function parseNumber(answer: string): number | undefined {
  let t = stripLatex(normalizeUnicode(answer)).trim().replace(/\.$/, '').trim();
  t = t.replace(/^([-+]?)\s*[€£¥₹]\s*/, '$1').replace(/^[€£¥₹]\s*([-+]?)/, '$1');
  t = t.replace(/\s*(?:%|°|[A-Za-z][A-Za-z.²³/]*)$/, '').trim();
  if (t === '') return undefined;
  const fraction = /^([-+]?)\s*(\(?[^/]+?\)?)\s*\/\s*(\(?[^/]+?\)?)$/.exec(t);
  if (fraction) {
    const [num, den] = [plainNumber(fraction[2]), plainNumber(fraction[3])];
    if (num === undefined || den === undefined || den === 0) return undefined;
    return (fraction[1] === '-' ? -1 : 1) * (num / den);
  }
  return plainNumber(t);
}

/** Text compared without case, surrounding or repeated whitespace, LaTeX wrappers or a trailing period. */
export function normalizeAnswer(s: string): string {
  return stripLatex(normalizeUnicode(s)).replace(/\s+/g, ' ').trim().replace(/\.$/, '').trim().toLowerCase();
}

/** The reference a dataset value gives: a number, a string (GSM8K's `#### 42` tail, MATH's `\boxed{}`), or undefined when empty. */
export function referenceAnswer(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const hashes = value.lastIndexOf('####');
  if (hashes >= 0) return value.slice(hashes + 4).trim();
  return boxed(value) ?? value.trim();
}

export type ToleranceMode = 'relative' | 'absolute';

/** Whether two numbers agree within the tolerance (relative: of the larger magnitude). */
export function numbersClose(a: number, b: number, tolerance: number, mode: ToleranceMode): boolean {
  if (a === b) return true;
  const diff = Math.abs(a - b);
  return mode === 'absolute' ? diff <= tolerance : diff <= tolerance * Math.max(Math.abs(a), Math.abs(b));
}

/** 1 when the completion's answer equals the reference, else 0. */
export function answerScore(completion: string, reference: string, tolerance = 1e-6, mode: ToleranceMode = 'relative'): 0 | 1 {
  const tagged = answerTag(completion);
  const stated = tagged !== undefined ? (boxed(tagged) ?? tagged) : boxed(completion);
  const expected = parseNumber(reference);
  if (expected !== undefined) {
    // Numeric reference: the stated answer as a number, else the last number in it (or in the whole completion).
    const source = stated ?? completion;
    const n = parseNumber(source) ?? parseNumber(lastNumber(source) ?? '');
    return n !== undefined && numbersClose(n, expected, tolerance, mode) ? 1 : 0;
  }
  return normalizeAnswer(stated ?? completion) === normalizeAnswer(reference) ? 1 : 0;
}

export const answerMatch: BuiltinReward = {
  name: 'answer_match',
  aliases: ['exact_match', 'accuracy'],
  description:
    'Answer correctness: 1 when the completion\'s answer (the last <answer>…</answer>, else the last \\boxed{…}, else its last number) equals the reference in `column` — numerically within `tolerance` when the reference is a number, else as text ignoring case, spacing and a trailing period; 0 otherwise; null for rows without a reference.',
  column: { default: 'answer', description: 'the reference answer (a number, text, a GSM8K `#### 42` solution or a `\\boxed{}` one)' },
  options: {
    tolerance: { type: 'number', minimum: 0, default: 1e-6, description: 'Largest difference still counted as equal when the reference is a number.' },
    tolerance_mode: { type: 'enum', values: ['relative', 'absolute'], default: 'relative', description: '`relative`: the tolerance is a fraction of the larger magnitude; `absolute`: a plain difference.' },
  },
  create(config: RewardConfig) {
    const column = config.column ?? 'answer';
    const tolerance = (config.options?.tolerance as number | undefined) ?? 1e-6;
    const mode = (config.options?.tolerance_mode as ToleranceMode | undefined) ?? 'relative';
    return (inputs): RewardValues => {
      const texts = completionTexts(inputs, config.name);
      const refs = columnValues(inputs, column, texts.length, config.name);
      return texts.map((text, i) => {
        const reference = refs ? referenceAnswer(refs[i]) : undefined;
        return reference === undefined ? null : answerScore(text, reference, tolerance, mode);
      });
    };
  },
};
