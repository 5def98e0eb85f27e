// Content fingerprints for whole-file checks, computed in one pass over a record's text:
// an exact hash with whitespace runs collapsed (duplicates) and a one-permutation MinHash over
// word 3-shingles (near duplicates). Both are plain integer arithmetic so 100k records stay cheap.

/** MinHash bins per record; LSH uses BANDS x ROWS of them. */
export const MINHASH_BINS = 32;
export const LSH_BANDS = 5;
export const LSH_ROWS = 4;
/** Records with fewer shingles than this are too short for a meaningful near-duplicate test. */
const MIN_SHINGLES = 6;

const EMPTY_BIN = 0xffffffff;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Feeds strings; yields a 2x32-bit exact hash and an optional MinHash signature. */
export class Fingerprinter {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  private pendingSpace = false;
  private started = false;
  private word = 0;
  private inWord = false;
  private w1 = 0;
  private w2 = 0;
  private words = 0;
  private shingles = 0;
  private readonly bins: Uint32Array | undefined;

  constructor(minhash: boolean) {
    this.bins = minhash ? new Uint32Array(MINHASH_BINS).fill(EMPTY_BIN) : undefined;
  }

  /** Append a piece of content; `separator` marks a field boundary so ["ab","c"] != ["a","bc"]. */
  update(text: string, separator: number): void {
    // Hot loop over every character of the dataset: state lives in locals, written back once.
    let h1 = this.h1;
    let h2 = this.h2;
    let pendingSpace = this.pendingSpace;
    let started = this.started;
    let word = this.word;
    let inWord = this.inWord;
    const shingling = this.bins !== undefined;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // JSON-relevant whitespace plus NBSP and ideographic space; other code points are content.
      if (c === 32 || c === 10 || c === 9 || c === 13 || c === 0xa0 || c === 0x3000) {
        if (started) pendingSpace = true;
        if (inWord) {
          this.endWord(word);
          word = 0;
          inWord = false;
        }
        continue;
      }
      if (pendingSpace) {
        h1 = Math.imul(h1 ^ 32, 0x01000193);
        h2 = Math.imul(h2 ^ 32, 0x5bd1e995) ^ (h2 >>> 15);
        pendingSpace = false;
      }
      started = true;
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
      if (!shingling) continue;
      if (c >= 0x2e80 && c < 0xd800) {
        // Letters of scripts written without spaces (CJK, kana, Hangul) count as words of their own.
        if (inWord) this.endWord(word);
        this.endWord(Math.imul(c, 0x9e3779b1));
        word = 0;
        inWord = false;
      } else {
        word = Math.imul(word ^ c, 0x01000193);
        inWord = true;
      }
    }
    if (inWord) this.endWord(word);
    this.word = 0;
    this.inWord = false;
    this.started = started;
    this.pendingSpace = false;
    this.h1 = Math.imul(h1 ^ separator, 0x01000193);
    this.h2 = Math.imul(h2 ^ separator, 0x5bd1e995) ^ (h2 >>> 15);
  }

  private endWord(word: number): void {
    const bins = this.bins;
    if (!bins) return;
    const w = mix(word);
    this.words++;
    if (this.words >= 3) {
      const s = mix(this.w1 ^ Math.imul(this.w2, 0x27d4eb2f) ^ Math.imul(w, 0x165667b1));
      const bin = s >>> 27; // top 5 bits pick one of 32 bins
      if (s < bins[bin]) bins[bin] = s;
      this.shingles++;
    }
    this.w1 = this.w2;
    this.w2 = w;
  }

  /** 30-bit exact hash (a Map key that stays a small integer). */
  get key(): number {
    return mix(this.h1) & 0x3fffffff;
  }

  /** Second, independent hash to tell key collisions apart. */
  get check(): number {
    return mix(this.h2 ^ 0x9e3779b9);
  }

  /** The MinHash signature, or undefined when the text is too short or MinHash is off. */
  signature(): Uint32Array | undefined {
    return this.bins && this.shingles >= MIN_SHINGLES ? this.bins : undefined;
  }
}

/** Band keys for locality-sensitive hashing: records sharing any band key are candidate near duplicates. */
export function bandKeys(signature: Uint32Array): number[] {
  const keys: number[] = [];
  for (let b = 0; b < LSH_BANDS; b++) {
    let h = Math.imul(b + 1, 0x9e3779b1);
    for (let r = 0; r < LSH_ROWS; r++) h = mix(h ^ signature[b * LSH_ROWS + r]);
    keys.push(h & 0x3fffffff);
  }
  return keys;
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

/** Hash of a short string (prompts for the diversity check). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return mix(h) & 0x3fffffff;
}
