// The records a TRL run trains on: the recipe's JSONL files as they are when every record is in a form
// TRL reads, else normalised by core/datasets (docs/formats.md's quick fix: the same normalised record
// Anneal's engine trains on, in TRL's canonical form) into the run folder, so both engines see the same
// records.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { convertRecord } from '../../core/datasets/convert.ts';
import { detectFormat } from '../../core/datasets/detect.ts';
import { parseRecordObject } from '../../core/datasets/normalize.ts';
import type { RecordFormat } from '../../core/datasets/types.ts';

/** Formats TRL's trainers read as written (TRL's dataset_formats: language modeling, prompt-only, prompt-completion, preference, unpaired preference). */
const TRL_READS: ReadonlySet<RecordFormat> = new Set(['text', 'messages', 'prompt-completion', 'prompt-only', 'preference-explicit', 'preference-implicit', 'unpaired-preference']);

export type DataResult = { path: string; converted: number; split: number; multiTurn: number } | { refusal: string };

type Message = { role?: unknown };

/**
 * A conversation whose only assistant turn is its last, as TRL's conversational prompt/completion: TRL
 * then trains on the answer alone (completion_only_loss), as Anneal's assistant_only_loss does. TRL's own
 * assistant_only_loss needs a chat template with {% generation %} markers, which few models ship.
 */
function asPromptCompletion(line: string): string | undefined {
  const record = JSON.parse(line) as Record<string, unknown>;
  const messages = record.messages;
  if (!Array.isArray(messages) || messages.length < 2) return undefined;
  const assistants = messages.filter((m: Message) => m?.role === 'assistant').length;
  if (assistants !== 1 || (messages.at(-1) as Message)?.role !== 'assistant') return undefined;
  const { messages: _, ...rest } = record;
  return JSON.stringify({ ...rest, prompt: messages.slice(0, -1), completion: messages.slice(-1) });
}

const assistantTurns = (line: string) => {
  const messages = (JSON.parse(line) as { messages?: unknown }).messages;
  return Array.isArray(messages) ? messages.filter((m: Message) => m?.role === 'assistant').length : 0;
};

/**
 * Normalises the lines of a JSONL text for TRL; `converted` counts the records rewritten. With
 * `assistantOnly`, single-answer conversations become prompt/completion (`split` counts them) and
 * `multiTurn` counts the conversations left whole (TRL trains on all their tokens).
 */
export function trlRecords(text: string, file: string, assistantOnly = false): { lines: string[]; converted: number; split: number; multiTurn: number } | { refusal: string } {
  const lines: string[] = [];
  let converted = 0;
  let split = 0;
  let multiTurn = 0;
  const source = text.split('\n');
  for (let i = 0; i < source.length; i++) {
    const line = source[i].trim();
    if (line === '') continue;
    const value = parseRecordObject(line);
    if (!value) return { refusal: `Line ${i + 1} of ${file} is not a JSON object; fix it (open the file to see the problem) before training.` };
    const format = detectFormat(value);
    // Messages may still use another spelling (v1 content parts, legacy function calls): convertRecord says.
    const conversion = format && TRL_READS.has(format) && format !== 'messages' ? undefined : convertRecord(line);
    let out: string | undefined = conversion ? conversion.text : format && TRL_READS.has(format) ? line : undefined;
    if (out !== undefined) {
      const asked = assistantOnly && (conversion ? detectFormat(JSON.parse(out)) : format) === 'messages';
      const answerOnly = asked ? asPromptCompletion(out) : undefined;
      if (answerOnly !== undefined) split++;
      else if (asked && assistantTurns(out) > 1) multiTurn++;
      if (conversion || answerOnly !== undefined) converted++;
      out = answerOnly ?? out;
      lines.push(out);
    } else {
      return { refusal: `Line ${i + 1} of ${file} is ${format ? `a ${format} record` : 'a record of no known format'} that TRL has no form for (loss weights or several trained segments); train it on Anneal's engine or rewrite it as TRL's messages, prompt/completion or prompt/chosen/rejected.` };
    }
  }
  return { lines, converted, split, multiTurn };
}

/** The file TRL reads for `path`: itself, or its normalised copy in `<runDir>/trl/`. */
export function trlDataFile(path: string, runDir: string, split: 'train' | 'eval', assistantOnly = false): DataResult {
  const result = trlRecords(readFileSync(path, 'utf8'), basename(path), assistantOnly);
  if ('refusal' in result) return result;
  const counts = { converted: result.converted, split: result.split, multiTurn: result.multiTurn };
  if (result.converted === 0) return { path, ...counts };
  const dir = join(runDir, 'trl');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${split}.jsonl`);
  writeFileSync(out, result.lines.join('\n') + '\n');
  return { path: out, ...counts };
}
