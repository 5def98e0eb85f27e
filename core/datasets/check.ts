// One-shot checking of a whole file, for callers that do not keep a model (tests, the daemon
// before a run, small files in the CLI).

import { decodeLines } from './bytes.ts';
import { DatasetModel } from './model.ts';
import type { DatasetCheckOptions, DatasetReport } from './types.ts';

/** Check a JSONL dataset given as text, or as bytes (then invalid UTF-8 is reported per line). */
export function checkDataset(content: string | Uint8Array, options: DatasetCheckOptions = {}): DatasetReport {
  const model = new DatasetModel(options);
  if (typeof content === 'string') model.setText(content);
  else {
    const { lines, invalidUtf8 } = decodeLines(content);
    model.applyEdit(0, 0, lines, invalidUtf8);
  }
  return model.report();
}
