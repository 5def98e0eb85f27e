// Regex reward: 1 when a pattern (from the options, or per row from a column) matches the completion.

import { columnValues, completionTexts } from './text.ts';
import type { BuiltinReward, RewardConfig, RewardOptionProblem, RewardValues } from './types.ts';

const FLAGS = /^(?!.*(.).*\1)[dgimsuyv]*$/;

/** Why a pattern/flags pair does not compile, or undefined when it does. */
export function regexProblem(pattern: string, flags = ''): string | undefined {
  if (!FLAGS.test(flags)) return `flags \`${flags}\` are not JavaScript regex flags; use letters from d, g, i, m, s, u, v, y, each once.`;
  try {
    new RegExp(pattern, flags);
    return undefined;
  } catch (err) {
    return `pattern \`${pattern}\` is not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')}).`;
  }
}

export const regexMatch: BuiltinReward = {
  name: 'regex',
  aliases: ['regex_match'],
  description:
    'Regex: 1 when `pattern` (JavaScript syntax, with `flags`) matches anywhere in the completion — anchor it with ^…$ for a whole match — else 0; with `column`, each row\'s pattern comes from that column (null where it is missing or invalid).',
  column: { description: 'a per-row pattern, used instead of `pattern`' },
  options: {
    pattern: { type: 'string', minLength: 1, description: 'The regular expression (JavaScript syntax).' },
    flags: { type: 'string', default: '', description: 'Regex flags, e.g. `i` to ignore case, `s` to let `.` match newlines.' },
  },
  validate(config: RewardConfig): RewardOptionProblem[] {
    const pattern = config.options?.pattern;
    const flags = typeof config.options?.flags === 'string' ? config.options.flags : '';
    if (typeof pattern !== 'string' && config.column === undefined) {
      return [{ kind: 'invalid-value', message: 'regex needs a pattern: set `pattern` in its options, or `column` to a column of patterns.' }];
    }
    const problem = regexProblem(typeof pattern === 'string' ? pattern : '', flags);
    return problem ? [{ key: problem.startsWith('flags') ? 'flags' : 'pattern', kind: 'invalid-value', message: problem }] : [];
  },
  create(config: RewardConfig) {
    const flags = ((config.options?.flags as string | undefined) ?? '').replace(/[gy]/g, ''); // test() with g/y keeps state between calls
    const fixed = typeof config.options?.pattern === 'string' ? new RegExp(config.options.pattern, flags) : undefined;
    const compiled = new Map<string, RegExp | undefined>();
    const rowPattern = (p: unknown): RegExp | undefined => {
      if (typeof p !== 'string' || p === '') return undefined;
      if (!compiled.has(p)) compiled.set(p, regexProblem(p, flags) ? undefined : new RegExp(p, flags));
      return compiled.get(p);
    };
    return (inputs): RewardValues => {
      const texts = completionTexts(inputs, config.name);
      const patterns = config.column !== undefined ? columnValues(inputs, config.column, texts.length, config.name) : undefined;
      return texts.map((text, i) => {
        const re = patterns ? rowPattern(patterns[i]) : fixed;
        return re ? (re.test(text) ? 1 : 0) : null;
      });
    };
  },
};
