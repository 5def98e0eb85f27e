// Reading a reward function's inputs: the text of a completion, a forwarded column, the row count.

import type { Completion, RewardInputs } from './types.ts';

/** The text of a message's content: a string, or the text parts of a content list. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (typeof part === 'string' ? part : part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string' ? (part as { text: string }).text : ''))
      .join('');
  }
  return '';
}

/** The text a completion holds: itself, or the content of its last assistant message (the last message when none has a role). */
export function completionText(completion: Completion | unknown): string {
  if (typeof completion === 'string') return completion;
  if (!Array.isArray(completion) || completion.length === 0) return '';
  const messages = completion as readonly { role?: unknown; content?: unknown }[];
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'assistant') return contentText(messages[i].content);
  }
  return messages.some((m) => m && typeof m.role === 'string') ? '' : contentText(messages.at(-1)?.content);
}

/** The completions as text, after checking the inputs are the lists TRL passes. */
export function completionTexts(inputs: RewardInputs, reward: string): string[] {
  if (!inputs || !Array.isArray(inputs.completions)) throw new TypeError(`Reward ${reward}: \`completions\` must be a list (one entry per completion).`);
  if (Array.isArray(inputs.prompts) && inputs.prompts.length !== inputs.completions.length) {
    throw new RangeError(`Reward ${reward}: ${inputs.prompts.length} prompts for ${inputs.completions.length} completions; pass one prompt per completion.`);
  }
  return inputs.completions.map(completionText);
}

/**
 * A forwarded dataset column, one value per completion; undefined when the inputs lack it (every row is
 * then unscored). A column of another length is a caller bug and throws.
 */
export function columnValues(inputs: RewardInputs, column: string, rows: number, reward: string): readonly unknown[] | undefined {
  const values = inputs[column];
  if (values === undefined) return undefined;
  if (!Array.isArray(values)) throw new TypeError(`Reward ${reward}: column \`${column}\` must be a list (one value per completion).`);
  if (values.length !== rows) throw new RangeError(`Reward ${reward}: column \`${column}\` has ${values.length} values for ${rows} completions.`);
  return values;
}

/** Unicode-normalised text: full-width digits and letters become ASCII, the minus sign a hyphen. */
export function normalizeUnicode(s: string): string {
  return s.normalize('NFKC').replace(/[\u2212\u2012\u2013\uFE63\uFF0D]/g, '-');
}
