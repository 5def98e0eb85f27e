// Content fingerprints for whole-file checks, computed in one pass over a record's text:
// an exact hash with whitespace runs collapsed (duplicates) and a one-permutation MinHash over
// word 3-shingles (near duplicates). Both are plain integer arithmetic so 100k records stay cheap.

/** MinHash bins per record; LSH uses BANDS x ROWS of them. */
export const MINHASH_BINS = 32;
export const LSH_BANDS = 5;
export const LSH_ROWS = 4;
/** Records with fewer shingles than this are too short for a meaningful near-duplicate test. */
const MIN_SHINGLES = 4;

const EMPTY_BIN = 0xffffffff;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Signatures are carved out of shared slabs: one typed-array allocation per record is costly. */
let slab = new Uint32Array(0);
let slabUsed = 0;
function allocateBins(): Uint32Array {
  if (slabUsed + MINHASH_BINS > slab.length) {
    // Emptied once for all its signatures: a fill() call per record costs more than the bins it fills.
    slab = new Uint32Array(MINHASH_BINS * 2048).fill(EMPTY_BIN);
    slabUsed = 0;
  }
  const bins = slab.subarray(slabUsed, slabUsed + MINHASH_BINS);
  slabUsed += MINHASH_BINS;
  return bins;
}

const WORD_SEED = 0x9747b28c;

/**
 * Feeds strings; yields an exact hash (key + check) of the text with whitespace runs collapsed and,
 * optionally, a MinHash signature. This loop touches every character of a dataset, so per character
 * it does one multiply (the running word hash); the text hash is built from the word hashes, which
 * is the same as hashing the whitespace-collapsed text.
 */
export class Fingerprinter {
  private h = 0x811c9dc5;
  private h2 = 0x27d4eb2f;
  private count = 0;
  private w1 = 0;
  private w2 = 0;
  private words = 0;
  private shingles = 0;
  private readonly bins: Uint32Array | undefined;

  constructor(minhash: boolean) {
    this.bins = minhash ? allocateBins() : undefined;
  }

  /**
   * Append a piece of content; `separator` marks a field boundary so ["ab","c"] != ["a","bc"].
   * `sketch: false` keeps the piece out of the MinHash: text that many records share verbatim (a
   * system prompt) would otherwise make different records look alike. Exact duplicates still see it.
   */
  update(text: string, separator: number, sketch = true): void {
    const n = text.length;
    let i = 0;
    let word = WORD_SEED;
    let inWord = false;
    let cjk = -1;
    // The inner loop only hashes the characters of one word (about twice as fast as one loop that
    // also tracks word boundaries); a word ends at whitespace, at the end, or before a letter of a
    // script written without spaces (CJK, kana, Hangul), which counts as a word of its own.
    for (;;) {
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c <= 32) {
          if (c === 32 || c === 10 || c === 9 || c === 13) break;
        } else if (c >= 0x2e80 && c < 0xd800) {
          cjk = c;
          break;
        }
        word = Math.imul(word ^ c, 0x01000193);
        inWord = true;
      }
      if (inWord) {
        this.word(word, sketch);
        word = WORD_SEED;
        inWord = false;
      }
      if (cjk >= 0) {
        this.word(Math.imul(cjk, 0x9e3779b1), sketch);
        cjk = -1;
      }
      if (++i >= n) break;
    }
    this.h = Math.imul(this.h ^ separator, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ separator, 0x5bd1e995);
  }

  /** One word: into both text hashes and, when MinHash is on, the 3-shingle window. */
  private word(word: number, sketch: boolean): void {
    this.h = Math.imul(this.h ^ word, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ (word >>> 7), 0x5bd1e995) ^ word;
    this.count++;
    const bins = this.bins;
    if (!bins || !sketch) return;
    const words = ++this.words;
    const w2 = this.w2;
    const pre = this.w1 ^ Math.imul(w2, 0x27d4eb2f) ^ Math.imul(word, 0x165667b1);
    // Only shingles whose raw hash is even enter the sketch: the choice depends on the shingle alone,
    // so similar records keep the same subset, and the costly mixing runs half as often.
    if (words >= 3 && (pre & 1) === 0) {
      const s = mix(pre);
      const bin = s >>> 27; // top 5 bits pick one of 32 bins
      if (s < bins[bin]) bins[bin] = s;
      this.shingles++;
    }
    this.w1 = Math.imul(w2, 0x85ebca6b);
    this.w2 = word;
  }

  /** 30-bit exact hash (a Map key that stays a small integer). */
  get key(): number {
    return mix(this.h) & 0x3fffffff;
  }

  /** Second, independent hash to tell key collisions apart (a signed 32-bit integer: no heap number per record). */
  get check(): number {
    return mix(this.h2 ^ Math.imul(this.count, 0x9e3779b1)) | 0;
  }

  /** The MinHash signature, or undefined when the text is too short or MinHash is off. */
  signature(): Uint32Array | undefined {
    return this.bins && this.shingles >= MIN_SHINGLES ? this.bins : undefined;
  }
}

/**
 * Band `b`'s key for locality-sensitive hashing: records sharing any band key are candidate near
 * duplicates. Computed from the signature when needed rather than kept per record (an array per
 * record is most of what a 100k-record check keeps alive).
 */
export function bandKey(signature: Uint32Array, b: number): number {
  let h = Math.imul(b + 1, 0x9e3779b1);
  for (let r = 0; r < LSH_ROWS; r++) h = mix(h ^ signature[b * LSH_ROWS + r]);
  return h & 0x3fffffff;
}

/** Estimated Jaccard similarity of two signatures (bins empty in both are ignored). */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  let used = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === EMPTY_BIN && b[i] === EMPTY_BIN) continue;
    used++;
    if (a[i] === b[i]) same++;
  }
  return used === 0 ? 0 : same / used;
}
