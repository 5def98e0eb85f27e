// Length reward: close to a target length, or a penalty past a limit. With nothing set it is DAPO's soft
// overlong punishment (TRL's get_soft_overlong_punishment, DAPO Eq. 13) on the run's max_completion_length.

import { columnValues, completionTexts } from './text.ts';
import type { BuiltinReward, RewardConfig, RewardContext, RewardInputs, RewardOptionProblem, RewardValues } from './types.ts';

export type LengthUnit = 'chars' | 'words' | 'tokens';

const words = new Intl.Segmenter(undefined, { granularity: 'word' });

/** The length of a text in characters (code points, so an emoji is one) or words (each CJK word counts). */
export function textLength(text: string, unit: 'chars' | 'words'): number {
  if (unit === 'chars') return [...text].length;
  let n = 0;
  for (const s of words.segment(text)) if (s.isWordLike) n++;
  return n;
}

/** 1 at the target, falling linearly to 0 at twice (or zero times) the target. */
export function targetScore(length: number, target: number): number {
  return Math.max(0, 1 - Math.abs(length - target) / target);
}

/** 0 up to `max`, then −(length − max)/ramp, down to −1 at max + ramp and beyond. */
export function overlongScore(length: number, max: number, ramp: number): number {
  return length <= max ? 0 : Math.max(-1, -(length - max) / ramp);
}

interface LengthSettings {
  unit: LengthUnit;
  target?: number;
  max?: number;
  ramp?: number;
}

/** The settings a config means; the DAPO preset when it names neither target, max nor column. */
function settings(config: RewardConfig, context: RewardContext): LengthSettings {
  const o = config.options ?? {};
  const given = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  if (given('target') === undefined && given('max') === undefined && config.column === undefined) {
    const limit = context.max_completion_length ?? 256; // TRL's default max_completion_length
    return { unit: (o.unit as LengthUnit | undefined) ?? 'tokens', max: limit - Math.floor(limit / 5), ramp: Math.floor(limit / 5) || 1 };
  }
  return { unit: (o.unit as LengthUnit | undefined) ?? 'chars', target: given('target'), max: given('max'), ramp: given('ramp') };
}

function lengths(inputs: RewardInputs, unit: LengthUnit, name: string): number[] {
  const texts = completionTexts(inputs, name);
  if (unit !== 'tokens') return texts.map((t) => textLength(t, unit));
  const ids = inputs.completion_ids;
  if (!Array.isArray(ids)) throw new TypeError(`Reward ${name}: unit tokens needs \`completion_ids\`; pass them, or set unit to chars or words.`);
  if (ids.length !== texts.length) throw new RangeError(`Reward ${name}: ${ids.length} completion_ids for ${texts.length} completions.`);
  return ids.map((row) => (Array.isArray(row) ? row.length : 0));
}

export const lengthReward: BuiltinReward = {
  name: 'length',
  aliases: ['len'],
  description:
    'Length, in `unit` (chars by default, or words, or tokens): with `target`, 1 − |length − target| / target, never below 0; with `max`, 0 up to max then falling linearly to −1 at max + `ramp`; with `column`, each row\'s target. With none of these, DAPO\'s soft overlong penalty in tokens: 0 up to 80% of max_completion_length, then down to −1 at max_completion_length.',
  column: { description: 'a per-row target length (a positive number), used instead of `target`' },
  options: {
    unit: { type: 'enum', values: ['chars', 'words', 'tokens'], default: 'chars', description: 'What is counted: characters (code points), words (Unicode word segmentation, so each CJK word counts), or completion tokens.' },
    target: { type: 'number', exclusiveMinimum: 0, description: 'The length that scores 1.' },
    max: { type: 'number', minimum: 0, description: 'The longest length without penalty.' },
    ramp: { type: 'number', exclusiveMinimum: 0, description: 'With `max`: how far past max the penalty reaches −1 (default: max itself, or 1 when max is 0).' },
  },
  validate(config: RewardConfig): RewardOptionProblem[] {
    const o = config.options ?? {};
    const problems: RewardOptionProblem[] = [];
    if (o.target !== undefined && o.max !== undefined) problems.push({ key: 'max', kind: 'invalid-value', message: 'length takes `target` (reward closeness) or `max` (penalise beyond), not both; remove one.' });
    if (o.ramp !== undefined && o.max === undefined) problems.push({ key: 'ramp', kind: 'invalid-value', message: '`ramp` only applies with `max`; set max or remove ramp.' });
    return problems;
  },
  create(config: RewardConfig, context: RewardContext) {
    const s = settings(config, context);
    return (inputs): RewardValues => {
      const lens = lengths(inputs, s.unit, config.name);
      const targets = config.column !== undefined ? columnValues(inputs, config.column, lens.length, config.name) : undefined;
      return lens.map((len, i) => {
        if (s.max !== undefined) return overlongScore(len, s.max, s.ramp ?? (s.max || 1));
        const target = targets ? Number(targets[i]) : s.target;
        return target !== undefined && target > 0 && Number.isFinite(target) ? targetScore(len, target) : null;
      });
    };
  },
};
