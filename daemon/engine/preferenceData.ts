// Preference pairs for DPO and the stages like it: each record's prompt + chosen and prompt + rejected
// tokenized as the hover shows them (core/tokenize's encodePreference: the completion's tokens are
// the scored ones, EOS appended to standard text), cut to max_length keeping the start, as TRL's
// DataCollatorForPreference does. A pair whose prompt alone fills max_length is dropped and counted
// (TRL's _prepare_dataset filter): nothing of its completions would be left to compare.
import type { Stage, TrainingArguments } from '../../core/recipe/types.ts';
import type { ChatTokenizer } from '../../core/tokenize/index.ts';
import { DataError, readRecords, type Example } from './data.ts';
import type { ScoredSequence } from './logprobs.ts';

export interface PairExample {
  chosen: ScoredSequence;
  rejected: ScoredSequence;
  /** TRL's optional `margin` column (reward modelling). */
  margin?: number;
  /** The record's line in its file (0-based). */
  line: number;
}

export interface PairSet {
  pairs: PairExample[];
  /** Pairs dropped because their prompt alone is max_length tokens or more. */
  dropped: number;
  /** Pairs with a sequence cut to max_length (or, when the stage drops them, dropped for it). */
  truncated: number;
}

export interface PairOptions {
  /** The recipe stage reading the file (for the checker). */
  stage: Stage;
  /** What a sequence longer than max_length gets: cut keeping the start (DPO), or its pair dropped (reward modelling, as TRL filters). */
  overLength: 'truncate' | 'drop';
}

function scored(enc: { ids: number[]; lossMask: boolean[] }, maxLength: number): ScoredSequence {
  const start = enc.lossMask.indexOf(true);
  return { ids: Int32Array.from(enc.ids.slice(0, maxLength)), completionStart: start < 0 ? enc.ids.length : start };
}

/** Reads, checks and tokenizes preference records ({prompt?, chosen, rejected}); throws DataError naming bad lines. */
export function loadPairs(path: string, tokenizer: ChatTokenizer, args: Pick<TrainingArguments, 'max_length'>, options: PairOptions = { stage: 'dpo', overLength: 'truncate' }): PairSet {
  const pairs: PairExample[] = [];
  let dropped = 0;
  let truncated = 0;
  for (const { line, record } of readRecords(path, options.stage)) {
    if (record.format !== 'preference') {
      throw new DataError(`${path} line ${line + 1} is a ${record.format} record; this stage needs preference pairs ({"prompt", "chosen", "rejected"} or {"chosen", "rejected"}).`);
    }
    const enc = tokenizer.encodePreference(record);
    const pair: PairExample = { chosen: scored(enc.chosen, args.max_length), rejected: scored(enc.rejected, args.max_length), line, ...(record.margin !== undefined ? { margin: record.margin } : {}) };
    if (pair.chosen.completionStart >= args.max_length || pair.rejected.completionStart >= args.max_length) {
      dropped++;
      continue;
    }
    if (enc.chosen.ids.length > args.max_length || enc.rejected.ids.length > args.max_length) {
      truncated++;
      if (options.overLength === 'drop') continue;
    }
    pairs.push(pair);
  }
  if (pairs.length === 0) throw new DataError(`${path} has no preference pair to train on${dropped > 0 ? ` (${dropped} dropped: their prompts alone fill max_length=${args.max_length}; raise max_length)` : ''}.`);
  return { pairs, dropped, truncated };
}

/** The pairs' sequences as examples, for the memory check (a micro-batch runs chosen and rejected together). */
export function pairSequences(pairs: PairExample[]): Example[] {
  return pairs.flatMap((p) => [p.chosen, p.rejected].map((s) => ({ ids: s.ids, target: Uint8Array.from(s.ids, (_, t) => (t >= s.completionStart ? 1 : 0)) })));
}

/** One KTO example: a prompt, a completion and whether the completion is desirable. */
export interface UnpairedExample {
  prompt: Int32Array;
  completion: Int32Array;
  label: boolean;
}

export interface UnpairedSet {
  examples: UnpairedExample[];
  dropped: number;
  desirable: number;
  undesirable: number;
}

/**
 * Reads unpaired preference records ({prompt, completion, label}); a pair ({prompt?, chosen,
 * rejected}) becomes a desirable and an undesirable example, as TRL's unpair_preference_dataset
 * makes them. Throws DataError naming bad lines, or when the file holds one class only.
 */
export function loadUnpaired(path: string, tokenizer: ChatTokenizer, args: Pick<TrainingArguments, 'max_length'>): UnpairedSet {
  const examples: UnpairedExample[] = [];
  let dropped = 0;
  const add = (enc: { ids: number[]; lossMask: boolean[] }, label: boolean) => {
    const start = enc.lossMask.indexOf(true);
    const cut = start < 0 ? enc.ids.length : start;
    if (cut >= args.max_length) {
      dropped++;
      return;
    }
    examples.push({ prompt: Int32Array.from(enc.ids.slice(0, cut)), completion: Int32Array.from(enc.ids.slice(cut)), label });
  };
  for (const { line, record } of readRecords(path, 'kto')) {
    if (record.format === 'unpaired-preference') add(tokenizer.encodeRecord(record), record.label);
    else if (record.format === 'preference') {
      const enc = tokenizer.encodePreference(record);
      add(enc.chosen, true);
      add(enc.rejected, false);
    } else throw new DataError(`${path} line ${line + 1} is a ${record.format} record; KTO needs {"prompt", "completion", "label"} records (or preference pairs, which it splits).`);
  }
  const desirable = examples.filter((e) => e.label).length;
  const undesirable = examples.length - desirable;
  if (examples.length === 0) throw new DataError(`${path} has no example to train on${dropped > 0 ? ` (${dropped} dropped: their prompts alone fill max_length=${args.max_length})` : ''}.`);
  if (desirable === 0 || undesirable === 0) {
    throw new DataError(`${path} has only ${desirable === 0 ? 'undesirable (label false)' : 'desirable (label true)'} examples; KTO learns from both kinds, so add some with label ${desirable === 0 ? 'true' : 'false'}.`);
  }
  return { examples, dropped, desirable, undesirable };
}

/** Prompt i followed by completion j, cut to `maxLength` keeping the start (TRL's KTO collator). */
export function joined(prompt: Int32Array, completion: Int32Array, maxLength: number): ScoredSequence {
  const ids = new Int32Array(prompt.length + completion.length);
  ids.set(prompt);
  ids.set(completion, prompt.length);
  return { ids: ids.subarray(0, maxLength), completionStart: prompt.length };
}
