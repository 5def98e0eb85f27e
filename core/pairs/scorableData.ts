// Whether a file can have its pairs scored, judged from its first records before a model is loaded:
// a wrong file (SFT data, plain text, not JSON at all) gets one sentence at once instead of an
// engine error worded for training.

import { detectFormat } from '../datasets/detect.ts';
import { parseRecordObject } from '../datasets/normalize.ts';

/** Records looked at; a preference file shows its format on its first record. */
const LOOK_AT = 50;

/** Why `file` (its lines) cannot be scored, or undefined when its first record is a preference pair. */
export function scorableDataProblem(file: string, lines: Iterable<string>): string | undefined {
  let seen = 0;
  let firstNonJson: number | undefined;
  let index = -1;
  for (const text of lines) {
    index++;
    if (text.trim() === '') continue;
    if (++seen > LOOK_AT) break;
    const record = parseRecordObject(text);
    if (!record) {
      firstNonJson ??= index;
      continue;
    }
    const format = detectFormat(record);
    if (format === 'preference-explicit' || format === 'preference-implicit') return undefined;
    const what = format ? `a ${format} record` : 'a record of no known format';
    return `${file} is not preference data: line ${index + 1} is ${what}; scoring needs pairs ({"prompt", "chosen", "rejected"} or {"chosen", "rejected"}).`;
  }
  if (firstNonJson !== undefined) return `${file} is not JSONL preference data: line ${firstNonJson + 1} is not a JSON object.`;
  return `${file} has no records; scoring needs preference pairs ({"prompt", "chosen", "rejected"}).`;
}
