// core/rewards: the built-in GRPO reward functions (pure: no tensors, no I/O) and their registry, which the
// recipe checker reads (names, options, columns) and the GRPO stage instantiates with createBuiltinReward.

import { closest } from '../recipe/suggest.ts';
import { answerMatch } from './answer.ts';
import { thinkFormat } from './format.ts';
import { jsonSchema, jsonValid } from './json.ts';
import { lengthReward } from './length.ts';
import { regexMatch } from './regex.ts';
import type { BuiltinReward, RewardConfig, RewardContext, RewardFunction, RewardOptionProblem, RewardOptionSpec, RewardValues } from './types.ts';

export type * from './types.ts';
export { completionText } from './text.ts';

/** Every built-in, by canonical name. */
export const BUILTIN_REWARDS: Readonly<Record<string, BuiltinReward>> = Object.fromEntries(
  [answerMatch, thinkFormat, regexMatch, jsonValid, jsonSchema, lengthReward].map((r) => [r.name, r]),
);

const BY_ANY_NAME = new Map<string, BuiltinReward>(Object.values(BUILTIN_REWARDS).flatMap((r) => [r.name, ...r.aliases].map((n) => [n, r] as const)));

/** Every name a recipe may use for a built-in (canonical names and aliases). */
export const BUILTIN_REWARD_NAMES: readonly string[] = [...BY_ANY_NAME.keys()];

/** The built-in a recipe name (or alias) means, or undefined. */
export function findBuiltinReward(name: string): BuiltinReward | undefined {
  return BY_ANY_NAME.get(name);
}

/** The closest built-in name to a mistyped one, when close enough to be a typo. */
export function suggestBuiltinReward(name: string): string | undefined {
  return closest(name, [...BUILTIN_REWARD_NAMES]);
}

/** The dataset columns a configured built-in reads: its `column`, else its default column. */
export function rewardColumns(reward: BuiltinReward, config: Pick<RewardConfig, 'column'>): string[] {
  if (!reward.column) return [];
  const column = config.column ?? reward.column.default;
  return column === undefined ? [] : [column];
}

function typeName(spec: RewardOptionSpec): string {
  return spec.type === 'enum' ? `one of ${spec.values.join(', ')}` : spec.type === 'object' ? 'a mapping' : `a ${spec.type}`;
}

/** Why a value does not suit an option's declared type, or undefined. */
function optionProblem(key: string, spec: RewardOptionSpec, value: unknown): RewardOptionProblem | undefined {
  const wrong = (): RewardOptionProblem => ({ key, kind: 'wrong-type', message: `\`${key}\` must be ${typeName(spec)}${spec.default !== undefined ? ` (default ${JSON.stringify(spec.default)})` : ''}; got ${JSON.stringify(value)}.` });
  switch (spec.type) {
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrong();
      if (spec.integer && !Number.isInteger(value)) return { key, kind: 'invalid-value', message: `\`${key}\` must be a whole number; got ${value}.` };
      if (spec.minimum !== undefined && value < spec.minimum) return { key, kind: 'invalid-value', message: `\`${key}\` must be at least ${spec.minimum}; got ${value}.` };
      if (spec.exclusiveMinimum !== undefined && value <= spec.exclusiveMinimum) return { key, kind: 'invalid-value', message: `\`${key}\` must be above ${spec.exclusiveMinimum}; got ${value}.` };
      return undefined;
    case 'string':
      if (typeof value !== 'string') return wrong();
      if (spec.minLength !== undefined && value.length < spec.minLength) return { key, kind: 'invalid-value', message: `\`${key}\` must not be empty.` };
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrong();
    case 'enum': {
      if (typeof value === 'string' && spec.values.includes(value)) return undefined;
      const near = typeof value === 'string' ? closest(value, [...spec.values]) : undefined;
      return { key, kind: 'invalid-value', message: `\`${key}\` must be one of ${spec.values.join(', ')}; got ${JSON.stringify(value)}${near ? `; did you mean \`${near}\`?` : '.'}`, ...(near ? { suggestion: near } : {}) };
    }
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : wrong();
  }
}

/**
 * Everything wrong with a built-in's options: unknown keys (with the closest known one), ill-typed
 * values, then the built-in's own cross-option checks (run only when the types are right).
 */
export function rewardOptionProblems(reward: BuiltinReward, config: RewardConfig, context: RewardContext = {}): RewardOptionProblem[] {
  const problems: RewardOptionProblem[] = [];
  const known = Object.keys(reward.options);
  for (const [key, value] of Object.entries(config.options ?? {})) {
    const spec = reward.options[key];
    if (!spec) {
      const near = closest(key, known);
      problems.push({
        key,
        kind: 'unknown-key',
        message: `${reward.name} has no option \`${key}\`${near ? `; did you mean \`${near}\`?` : known.length ? `; its options are ${known.join(', ')}.` : '; it takes no options.'}`,
        ...(near ? { suggestion: near } : {}),
      });
      continue;
    }
    const problem = optionProblem(key, spec, value);
    if (problem) problems.push(problem);
  }
  if (problems.length === 0 && reward.validate) problems.push(...reward.validate(config, context));
  return problems;
}

/**
 * The reward function a recipe's built-in reward means, with TRL's signature
 * `({prompts, completions, completion_ids?, trainer_state?, ...columns}) => (number | null)[]`.
 * Throws one sentence naming the problem for an unknown name or invalid options.
 */
export function createBuiltinReward(config: RewardConfig, context: RewardContext = {}): RewardFunction {
  const reward = findBuiltinReward(config.name);
  if (!reward) {
    const near = suggestBuiltinReward(config.name);
    throw new Error(`\`${config.name}\` is not a built-in reward${near ? `; did you mean \`${near}\`?` : `; use one of ${Object.keys(BUILTIN_REWARDS).join(', ')}, or give it a \`file\`.`}`);
  }
  const problems = rewardOptionProblems(reward, config, context);
  if (problems.length) throw new Error(`Reward ${config.name}: ${problems[0].message}`);
  return reward.create(config, context);
}

/**
 * A reward function's result checked against TRL's contract: a list of `rows` numbers or nulls
 * (undefined and NaN read as null, as TRL turns None into NaN). Throws a message naming the function.
 */
export function checkRewardValues(name: string, values: unknown, rows: number): RewardValues {
  if (!Array.isArray(values)) throw new TypeError(`Reward ${name} returned ${values === null ? 'null' : typeof values}, not a list of numbers; return one number (or null) per completion.`);
  if (values.length !== rows) throw new RangeError(`Reward ${name} returned ${values.length} values for ${rows} completions; return one number (or null) per completion.`);
  return values.map((v, i) => {
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return null;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v !== 'number') throw new TypeError(`Reward ${name} returned ${JSON.stringify(v)} (a ${typeof v}) for completion ${i}; return numbers or null.`);
    if (!Number.isFinite(v)) throw new RangeError(`Reward ${name} returned ${v} for completion ${i}; return finite numbers or null.`);
    return v;
  });
}
