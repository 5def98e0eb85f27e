// Format reward (DeepSeek-R1's): reasoning in <think>…</think>, then the answer in <answer>…</answer>.

import { completionTexts } from './text.ts';
import type { BuiltinReward, RewardConfig, RewardValues } from './types.ts';

// Exactly one think block then exactly one answer block, nothing else around them but whitespace.
const STRICT = /^\s*<think>(?![\s\S]*<think>)[\s\S]*?<\/think>\s*<answer>(?![\s\S]*<answer>)[\s\S]*?<\/answer>\s*$/;
const THINK = /<think>[\s\S]*?<\/think>/;
const ANSWER = /<answer>[\s\S]*?<\/answer>/;
const count = (text: string, tag: string) => text.split(tag).length - 1;

/** 1 when the text is exactly `<think>…</think><answer>…</answer>` (whitespace around and between allowed). */
export function strictFormatScore(text: string): 0 | 1 {
  return STRICT.test(text) && count(text, '</think>') === 1 && count(text, '</answer>') === 1 ? 1 : 0;
}

/** Partial credit (seed 000's example): 0.5 for a closed think block, 0.5 for a closed answer block, anywhere. */
export function softFormatScore(text: string): number {
  return (THINK.test(text) ? 0.5 : 0) + (ANSWER.test(text) ? 0.5 : 0);
}

export const thinkFormat: BuiltinReward = {
  name: 'think_format',
  aliases: ['format'],
  description:
    'Format: 1 when the completion is exactly <think>…</think> then <answer>…</answer> (one of each, only whitespace around them), else 0; `mode: soft` gives 0.5 for each closed block found anywhere.',
  options: {
    mode: { type: 'enum', values: ['strict', 'soft'], default: 'strict', description: '`strict`: the whole completion must be the two blocks; `soft`: 0.5 per block present.' },
  },
  create(config: RewardConfig) {
    const score = config.options?.mode === 'soft' ? softFormatScore : strictFormatScore;
    return (inputs): RewardValues => completionTexts(inputs, config.name).map(score);
  },
};
