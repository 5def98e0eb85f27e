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

export type DataResult = { path: string; converted: number } | { refusal: string };

/** Normalises the lines of a JSONL text for TRL; `converted` counts the records rewritten. */
export function trlRecords(text: string, file: string): { lines: string[]; converted: number } | { refusal: string } {
  const lines: string[] = [];
  let converted = 0;
  const source = text.split('\n');
  for (let i = 0; i < source.length; i++) {
    const line = source[i].trim();
    if (line === '') continue;
    const value = parseRecordObject(line);
    if (!value) return { refusal: `Line ${i + 1} of ${file} is not a JSON object; fix it (open the file to see the problem) before training.` };
    const format = detectFormat(value);
    // Messages may still use another spelling (v1 content parts, legacy function calls): convertRecord says.
    const conversion = format && TRL_READS.has(format) && format !== 'messages' ? undefined : convertRecord(line);
    if (conversion) {
      lines.push(conversion.text);
      converted++;
    } else if (format && TRL_READS.has(format)) {
      lines.push(line);
    } else {
      return { refusal: `Line ${i + 1} of ${file} is ${format ? `a ${format} record` : 'a record of no known format'} that TRL has no form for (loss weights or several trained segments); train it on Anneal's engine or rewrite it as TRL's messages, prompt/completion or prompt/chosen/rejected.` };
    }
  }
  return { lines, converted };
}

/** The file TRL reads for `path`: itself, or its normalised copy in `<runDir>/trl/`. */
export function trlDataFile(path: string, runDir: string, split: 'train' | 'eval'): DataResult {
  const result = trlRecords(readFileSync(path, 'utf8'), basename(path));
  if ('refusal' in result) return result;
  if (result.converted === 0) return { path, converted: 0 };
  const dir = join(runDir, 'trl');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${split}.jsonl`);
  writeFileSync(out, result.lines.join('\n') + '\n');
  return { path: out, converted: result.converted };
}
