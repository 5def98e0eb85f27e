// Training data: JSONL -> checked records (core/datasets) -> token ids + loss masks (core/tokenize),
// then deterministic batches. The same checker and tokenizer drive the editor, so training sees
// exactly the records and loss masks the hover shows.
//
// Loss defaults (documented in the report and the example recipe):
//  - conversations (messages/alpaca/sharegpt): loss on assistant turns; `assistant_only_loss: false`
//    trains on every token. (TRL's own default is the whole sequence; Anneal defaults to assistant
//    turns because that is what chat fine-tuning nearly always wants and what the hover shows.)
//  - prompt-completion: loss on the completion (TRL's `completion_only_loss` default); false = all.
//  - text: every token.
//  - segments (Axolotl's input_output): the segments labelled true, always (the labels are the point).
import { readFileSync } from 'node:fs';
import { checkDataset, datasetOptionsFor } from '../../core/datasets/index.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import type { NormalizedRecord } from '../../core/datasets/types.ts';
import type { Stage, TrainingArguments } from '../../core/recipe/types.ts';
import type { ChatTokenizer, LossOn } from '../../core/tokenize/index.ts';
import { hashSeed, Rng } from './rng.ts';

/** A user-fixable problem with the data: one sentence, with line numbers. */
export class DataError extends Error {}

/** One tokenized record: ids and, per token, whether it is a loss target. */
export interface Example {
  ids: Int32Array;
  target: Uint8Array;
}

/** A padded (or packed) micro-batch, flattened row-major [batch, length]. */
export interface Batch {
  batch: number;
  length: number;
  ids: Int32Array;
  positions: Int32Array;
  /** Sequence number within the row (1, 2, ... when packed); 0 for padding. */
  segments: Int32Array;
  /** Next token at each position, and whether it counts toward the loss. */
  labels: Int32Array;
  weights: Float32Array;
  /** Non-padding tokens in the batch. */
  tokens: number;
  /** Positions that carry loss. */
  lossTokens: number;
}

/** Which tokens carry loss for a record under the training arguments (see the header). */
export function lossOnFor(record: NormalizedRecord, args: Pick<TrainingArguments, 'assistant_only_loss' | 'completion_only_loss'>): LossOn {
  if (record.format === 'conversation') return args.assistant_only_loss === false ? 'all' : 'assistant';
  if (record.format === 'prompt-completion') return args.completion_only_loss === false ? 'all' : 'completion';
  if (record.format === 'segments') return 'completion';
  return 'all';
}

/**
 * Reads and checks a JSONL file for `stage` with the checker the editor and `anneal validate` use,
 * so the trainer agrees with them on every record; throws DataError naming the bad lines.
 */
export function readRecords(path: string, stage: Stage): { line: number; record: NormalizedRecord }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`Cannot read the data file ${path} (${(e as Error).message}); check the recipe's data path.`);
  }
  // The options come from the same place as the editor's and `anneal validate`'s (a dataset_info.json beside the file included).
  const report = checkDataset(text, datasetOptionsFor(path, nodeFiles, { stage, nearDuplicates: false }));
  const errors = report.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    const shown = errors.slice(0, 3).map((d) => `line ${d.range.start.line + 1}: ${d.message}`).join('; ');
    const more = errors.length > 3 ? ` (and ${errors.length - 3} more)` : '';
    throw new DataError(`${path} has ${errors.length} error(s) — ${shown}${more}. Fix them (run \`anneal validate ${path}\`) and start again.`);
  }
  return report.records.flatMap((info) => (info.normalized ? [{ line: info.line, record: info.normalized }] : []));
}

/** Reads, checks and tokenizes a JSONL file for SFT; throws DataError naming bad lines. */
export function loadExamples(
  path: string,
  tokenizer: ChatTokenizer,
  args: Pick<TrainingArguments, 'assistant_only_loss' | 'completion_only_loss' | 'max_length'>,
  stage: 'sft' | 'cpt' = 'sft',
): { examples: Example[]; truncated: number } {
  const examples: Example[] = [];
  let truncated = 0;
  for (const { line, record } of readRecords(path, stage)) {
    if (record.format !== 'conversation' && record.format !== 'prompt-completion' && record.format !== 'text' && record.format !== 'segments') {
      throw new DataError(`${path} line ${line + 1} is a ${record.format} record; SFT needs messages, prompt-completion, segments or text records.`);
    }
    const enc = tokenizer.encodeRecord(record, { lossOn: lossOnFor(record, args), maxLength: args.max_length });
    if (enc.truncated) truncated++;
    if (enc.ids.length < 2 || !enc.lossMask.some((m, i) => m && i > 0)) continue; // nothing to learn from
    examples.push({ ids: Int32Array.from(enc.ids), target: Uint8Array.from(enc.lossMask, (m) => (m ? 1 : 0)) });
  }
  if (examples.length === 0) throw new DataError(`${path} has no record with tokens to train on; add records with assistant/completion text.`);
  return { examples, truncated };
}

/** Pads or packs sequences (each a list of examples sharing a row) into one batch. */
export function makeBatch(rows: Example[][], length: number, padId: number): Batch {
  const B = rows.length;
  const n = B * length;
  const b: Batch = {
    batch: B,
    length,
    ids: new Int32Array(n).fill(padId),
    positions: new Int32Array(n),
    segments: new Int32Array(n),
    labels: new Int32Array(n).fill(padId),
    weights: new Float32Array(n),
    tokens: 0,
    lossTokens: 0,
  };
  rows.forEach((row, r) => {
    let at = r * length;
    row.forEach((ex, s) => {
      for (let t = 0; t < ex.ids.length; t++) {
        b.ids[at + t] = ex.ids[t]!;
        b.positions[at + t] = t;
        b.segments[at + t] = s + 1;
        if (t + 1 < ex.ids.length) {
          b.labels[at + t] = ex.ids[t + 1]!;
          if (ex.target[t + 1]) {
            b.weights[at + t] = 1;
            b.lossTokens++;
          }
        }
      }
      b.tokens += ex.ids.length;
      at += ex.ids.length;
    });
  });
  return b;
}

export interface LoaderOptions {
  batchSize: number;
  maxLength: number;
  packing: boolean;
  seed: number;
  padId: number;
  /** Shuffle each epoch (train) or keep file order (eval). */
  shuffle: boolean;
}

/**
 * Best-fit decreasing packing (TRL's default `packing_strategy="bfd"`): longest sequence first, each
 * into the open row whose free space it fills most tightly, else a new row. The layout depends on
 * the examples alone, so it is computed once per run.
 */
export function packRows(examples: Example[], maxLength: number): Example[][] {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b]!.ids.length - examples[a]!.ids.length || a - b);
  const rows: Example[][] = [];
  const free: number[] = [];
  // byFree[f]: rows with exactly f free positions; `count` is a segment tree over f, so the tightest
  // fitting row is found in O(log maxLength) rather than by scanning every open row.
  const byFree: number[][] = Array.from({ length: maxLength + 1 }, () => []);
  let size = 1;
  while (size < maxLength + 1) size *= 2;
  const count = new Int32Array(2 * size);
  const bump = (f: number, d: number) => {
    for (let node = f + size; node >= 1; node >>= 1) count[node]! += d;
  };
  const tightest = (need: number, node = 1, lo = 0, hi = size - 1): number => {
    if (hi < need || count[node] === 0) return -1;
    if (lo === hi) return lo;
    const mid = (lo + hi) >> 1;
    const left = tightest(need, 2 * node, lo, mid);
    return left >= 0 ? left : tightest(need, 2 * node + 1, mid + 1, hi);
  };
  for (const i of order) {
    const ex = examples[i]!;
    const n = ex.ids.length;
    // loadExamples truncates to the same length the loader packs to; anything longer is a bug there.
    if (n > maxLength) throw new Error(`a ${n}-token example does not fit a packed row of ${maxLength} tokens; examples must be truncated to the row length`);
    const f = tightest(n);
    let r: number;
    if (f < 0) {
      r = rows.length;
      rows.push([]);
      free.push(maxLength);
    } else {
      r = byFree[f]!.pop()!;
      bump(f, -1);
    }
    rows[r]!.push(ex);
    free[r]! -= n;
    if (free[r]! > 0) {
      byFree[free[r]!]!.push(r);
      bump(free[r]!, 1);
    }
  }
  return rows;
}

/**
 * Deterministic batches of any items: epoch e's order is a permutation drawn from (seed, e) alone,
 * so resuming at micro-batch k of epoch e reproduces the uninterrupted run exactly.
 */
export class EpochOrder<T> {
  private planEpoch = -1;
  private plan: { items: T[]; indices: number[] }[] = [];
  readonly perEpoch: number;

  constructor(private readonly items: T[], private readonly opts: { batchSize: number; seed: number; shuffle: boolean }) {
    this.perEpoch = Math.ceil(items.length / opts.batchSize);
  }

  /** Micro-batch `index` (0-based) of epoch `epoch`: its items and their indices in the list. */
  batchAt(epoch: number, index: number): { items: T[]; indices: number[] } {
    const batch = this.planFor(epoch)[index];
    if (!batch) throw new Error(`micro-batch ${index} is past the end of epoch ${epoch}`);
    return batch;
  }

  private planFor(epoch: number): { items: T[]; indices: number[] }[] {
    if (epoch === this.planEpoch) return this.plan;
    const order = this.opts.shuffle ? new Rng(hashSeed(this.opts.seed, epoch)).permutation(this.items.length) : this.items.map((_, i) => i);
    const batches: { items: T[]; indices: number[] }[] = [];
    for (let i = 0; i < order.length; i += this.opts.batchSize) {
      const indices = order.slice(i, i + this.opts.batchSize);
      batches.push({ items: indices.map((k) => this.items[k]!), indices });
    }
    this.planEpoch = epoch;
    this.plan = batches;
    return batches;
  }
}

/**
 * SFT's micro-batches (EpochOrder over rows).
 *
 * With packing, rows are packed once (packRows) and only their order is shuffled per epoch, as TRL
 * packs the dataset once and its sampler shuffles the packed rows. Packing each epoch's shuffled
 * order instead would give each epoch a different number of rows, while the loop needs one
 * `perEpoch` for every epoch to map a micro-batch counter to (epoch, index) on resume.
 */
export class BatchLoader {
  private readonly order: EpochOrder<Example[]>;
  readonly perEpoch: number;

  constructor(examples: Example[], private readonly opts: LoaderOptions) {
    const rows = opts.packing ? packRows(examples, opts.maxLength) : examples.map((ex) => [ex]);
    this.order = new EpochOrder(rows, opts);
    this.perEpoch = this.order.perEpoch;
  }

  /** Micro-batch `index` (0-based) of epoch `epoch`. */
  batchAt(epoch: number, index: number): Batch {
    const rows = this.order.batchAt(epoch, index).items;
    const length = this.opts.packing ? this.opts.maxLength : Math.max(...rows.map((r) => r.reduce((a, e) => a + e.ids.length, 0)));
    return makeBatch(rows, length, this.opts.padId);
  }
}
