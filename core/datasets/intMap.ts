// A map from hash keys (non-negative 31-bit integers) to values for the whole-file tables (duplicate
// and near-duplicate buckets, prompt counts), which hold one entry per record in each of several
// tables. Open addressing over a typed array of keys costs about half of what a Map does at 100k
// entries, where every insert is a cache miss.

const EMPTY = -1;

export class IntMap<V> {
  private keys: Int32Array;
  private values: (V | undefined)[];
  private mask: number;
  private count = 0;

  constructor(capacity = 16) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.keys = new Int32Array(n).fill(EMPTY);
    this.values = new Array<V | undefined>(n).fill(undefined);
    this.mask = n - 1;
  }

  /** Make room for `capacity` entries at once: growing step by step rehashes every key many times over. */
  reserve(capacity: number): void {
    let n = this.keys.length;
    while (n < capacity * 2) n *= 2;
    if (n > this.keys.length) this.grow(n);
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    // Keys are hashes already, so their low bits pick the slot.
    for (let i = key & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  set(key: number, value: V): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    let i = key & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === key) break;
      if (k === EMPTY) {
        keys[i] = key;
        this.count++;
        break;
      }
      i = (i + 1) & this.mask;
    }
    this.values[i] = value;
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let i = key & mask;
    for (;;) {
      const k = keys[i];
      if (k === key) break;
      if (k === EMPTY) return false;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull later members of the probe run into the hole, so lookups never
    // need tombstones.
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = keys[j] & mask;
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      keys[i] = keys[j];
      this.values[i] = this.values[j];
      i = j;
    }
    keys[i] = EMPTY;
    this.values[i] = undefined;
    this.count--;
    return true;
  }

  private grow(n = this.keys.length * 2): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Int32Array(n).fill(EMPTY);
    this.values = new Array<V | undefined>(n).fill(undefined);
    this.mask = n - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const key = oldKeys[j];
      if (key === EMPTY) continue;
      let i = key & this.mask;
      while (this.keys[i] !== EMPTY) i = (i + 1) & this.mask;
      this.keys[i] = key;
      this.values[i] = oldValues[j];
    }
  }
}
