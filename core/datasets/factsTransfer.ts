// Line facts packed into typed arrays, so worker threads can hand 100k lines of analysis to the main
// thread as a few transferable buffers instead of 100k cloned objects.

import type { LineDiagnostic, LineFacts } from './lineAnalysis.ts';
import { MINHASH_BINS } from './fingerprint.ts';
import type { RecordFormat, RecordStyle } from './types.ts';

const FORMATS: RecordFormat[] = [
  'text', 'messages', 'prompt-completion', 'alpaca', 'sharegpt', 'preference-explicit', 'preference-implicit', 'prompt-only', 'unpaired-preference',
  'sharegpt-ranking', 'unpaired-conversation', 'preference-messages', 'openai-preference', 'axolotl-dpo', 'segments', 'stepwise',
];
const STYLES: RecordStyle[] = ['standard', 'conversational'];
const STATUS: LineFacts['status'][] = ['blank', 'invalid', 'record'];
const SHAPES: (LineFacts['shape'])[] = [undefined, 'json-open', 'csv-like'];
/** Int32 slots per line. */
const W = 16;

export interface PackedFacts {
  count: number;
  ints: Int32Array;
  signatures: Uint32Array;
  /** Sparse per-line objects: diagnostics and polite openings. */
  extras: [number, LineDiagnostic[] | undefined, string | undefined, string | undefined][];
}

/**
 * Packs facts one line at a time as they are made, so a worker keeps no LineFacts alive: objects that
 * live through a whole chunk would each be copied by the young-generation collector, some twice.
 */
export class FactsPacker {
  private readonly ints: Int32Array;
  private readonly signatures: Uint32Array;
  private readonly extras: PackedFacts['extras'] = [];
  private count = 0;

  constructor(private readonly capacity: number) {
    this.ints = new Int32Array(capacity * W);
    this.signatures = new Uint32Array(capacity * MINHASH_BINS);
  }

  add(f: LineFacts): void {
    const i = this.count++;
    if (i >= this.capacity) throw new Error(`FactsPacker: more than the ${this.capacity} lines it was made for`);
    const ints = this.ints;
    const o = i * W;
    ints[o] = STATUS.indexOf(f.status);
    ints[o + 1] = f.crlf ? 1 : 0;
    ints[o + 2] = f.length;
    ints[o + 3] = f.format ? FORMATS.indexOf(f.format) : -1;
    ints[o + 4] = f.style ? STYLES.indexOf(f.style) : -1;
    ints[o + 5] = f.anchor.start;
    ints[o + 6] = f.anchor.end;
    ints[o + 7] = f.dupKey;
    ints[o + 8] = f.dupCheck;
    ints[o + 9] = f.promptKey;
    ints[o + 10] = f.chars;
    ints[o + 11] = f.tokens;
    ints[o + 12] = f.chosenChars;
    ints[o + 13] = f.rejectedChars;
    ints[o + 14] = f.signature ? 1 : 0;
    ints[o + 15] = SHAPES.indexOf(f.shape);
    if (f.signature) this.signatures.set(f.signature, i * MINHASH_BINS);
    if (f.diags || f.chosenPolite || f.rejectedPolite) this.extras.push([i, f.diags, f.chosenPolite, f.rejectedPolite]);
  }

  /** The packet of the lines added (its `ints` and `signatures` buffers can be transferred). */
  finish(): PackedFacts {
    const n = this.count;
    const whole = n === this.capacity;
    return {
      count: n,
      ints: whole ? this.ints : this.ints.slice(0, n * W),
      signatures: whole ? this.signatures : this.signatures.slice(0, n * MINHASH_BINS),
      extras: this.extras,
    };
  }
}

/** Pack facts for transfer (the buffers of `ints` and `signatures` can be transferred). */
export function packFacts(facts: readonly LineFacts[]): PackedFacts {
  const packer = new FactsPacker(facts.length);
  for (const f of facts) packer.add(f);
  return packer.finish();
}

/** The facts back from a packet. */
export function unpackFacts(p: PackedFacts): LineFacts[] {
  const out: LineFacts[] = new Array(p.count);
  const { ints } = p;
  // Records of one file mostly start with the same key, so consecutive lines share one anchor object
  // (spans are never changed once made): 100k fewer objects for the main thread to keep.
  let anchor: LineFacts['anchor'] = { start: -1, end: -1 };
  for (let i = 0; i < p.count; i++) {
    const o = i * W;
    if (anchor.start !== ints[o + 5] || anchor.end !== ints[o + 6]) anchor = { start: ints[o + 5], end: ints[o + 6] };
    const signature = ints[o + 14] ? p.signatures.subarray(i * MINHASH_BINS, (i + 1) * MINHASH_BINS) : undefined;
    out[i] = {
      status: STATUS[ints[o]],
      crlf: ints[o + 1] === 1,
      length: ints[o + 2],
      diags: undefined,
      format: ints[o + 3] >= 0 ? FORMATS[ints[o + 3]] : undefined,
      style: ints[o + 4] >= 0 ? STYLES[ints[o + 4]] : undefined,
      normalized: undefined,
      anchor,
      dupKey: ints[o + 7],
      dupCheck: ints[o + 8],
      signature,
      promptKey: ints[o + 9],
      chars: ints[o + 10],
      tokens: ints[o + 11],
      chosenChars: ints[o + 12],
      rejectedChars: ints[o + 13],
      chosenPolite: undefined,
      rejectedPolite: undefined,
      shape: SHAPES[ints[o + 15]],
      index: 0,
      extra: undefined,
    };
  }
  for (const [i, diags, chosenPolite, rejectedPolite] of p.extras) {
    out[i].diags = diags;
    out[i].chosenPolite = chosenPolite;
    out[i].rejectedPolite = rejectedPolite;
  }
  return out;
}
