// Where each assistant turn sits in a rendered conversation, so its tokens can carry loss.
//
// The start of turn i is where the rendering of messages[0..i) with add_generation_prompt ends: the
// generation prompt is exactly what the model is given before it writes the turn. The end cannot be
// found the same way for every template: rendering messages[0..i] alone is not always a prefix of the
// whole conversation (Qwen3 adds an empty `<think>` block only to the last assistant turn and strips
// reasoning from earlier ones; Llama 3's base template appends an assistant header after every
// rendering). So the end is found in the full text itself: the turn's final content, then the first
// special token after it (the end-of-turn token: `<|im_end|>`, `<|eot_id|>`, `</s>`, ...), provided it
// comes before the next message's content.

import type { Message } from '../datasets/types.ts';
import type { ChatRenderer } from './template.ts';

export interface CharSpan {
  start: number;
  end: number;
}

/** The text a template will most surely print verbatim for an assistant turn: its final answer. */
function visibleTail(content: string): string {
  const afterThink = content.includes('</think>') ? content.slice(content.lastIndexOf('</think>') + 8) : content;
  return afterThink.trim();
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Earliest occurrence at or after `from` of any of `needles`, as [start, end). */
function firstOf(text: string, needles: string[], from: number): CharSpan | undefined {
  let best: CharSpan | undefined;
  for (const n of needles) {
    if (!n) continue;
    const at = text.indexOf(n, from);
    if (at >= 0 && (!best || at < best.start)) best = { start: at, end: at + n.length };
  }
  return best;
}

/**
 * Character spans in `full` (the rendering of all `messages`) of the assistant turns listed in
 * `turns`. `specialTokens` are the strings of the tokenizer's special tokens.
 */
export function assistantTurnSpans(
  renderer: ChatRenderer,
  messages: Message[],
  turns: number[],
  full: string,
  specialTokens: string[],
): CharSpan[] {
  const spans: CharSpan[] = [];
  let searchFrom = 0;
  for (const i of turns) {
    const message = messages[i];
    const tail = visibleTail(typeof message.content === 'string' ? message.content : '');
    let start: number;
    try {
      const prompt = renderer.render(messages.slice(0, i), true);
      start = full.startsWith(prompt) ? prompt.length : commonPrefixLength(prompt, full);
    } catch {
      // Templates may refuse a prefix (e.g. one that does not start with a user turn): fall back to
      // the content itself.
      start = -1;
    }
    const tailAt = tail ? full.indexOf(tail, Math.max(start, searchFrom)) : -1;
    if (start < 0) start = tailAt >= 0 ? tailAt : searchFrom;
    start = Math.max(start, searchFrom);
    const contentEnd = tailAt >= 0 ? tailAt + tail.length : start;

    // The next message's content bounds the search for the end-of-turn token.
    let limit = full.length;
    const next = messages[i + 1];
    if (next && typeof next.content === 'string' && next.content.trim()) {
      const at = full.indexOf(next.content.trim(), contentEnd);
      if (at >= 0) limit = at;
    }
    const endToken = firstOf(full, specialTokens, contentEnd);
    const end = endToken && endToken.end <= limit ? endToken.end : contentEnd;
    spans.push({ start, end: Math.max(start, end) });
    searchFrom = Math.max(start, end);
  }
  return spans;
}
