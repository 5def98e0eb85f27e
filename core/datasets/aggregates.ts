// Running totals over cached line facts, updated as lines come and go so whole-file checks never
// rescan the records: counts per format/style/kind, duplicate and near-duplicate buckets, prompt
// diversity and preference-pair statistics.

import { kindOfFormat } from './detect.ts';
import { bandKey, LSH_BANDS } from './fingerprint.ts';
import { IntMap } from './intMap.ts';
import type { LineFacts } from './lineAnalysis.ts';
import type { DatasetKind, RecordFormat, RecordStyle } from './types.ts';

/** Facts sharing one hash; `multi` tracks the groups with more than one member. */
export class Buckets {
  private readonly map = new IntMap<LineFacts | LineFacts[]>();
  readonly multi = new Set<LineFacts[]>();
  /** Results computed per group (near-duplicate pairs), dropped when the group changes. */
  readonly memo = new WeakMap<LineFacts[], [LineFacts, LineFacts][]>();

  /** Room for `records` distinct keys (see IntMap.reserve). */
  reserve(records: number): void {
    this.map.reserve(records);
  }

  add(key: number, f: LineFacts): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, f);
    else if (Array.isArray(cur)) {
      cur.push(f);
      this.memo.delete(cur);
    } else {
      const group = [cur, f];
      this.map.set(key, group);
      this.multi.add(group);
    }
  }

  remove(key: number, f: LineFacts): void {
    const cur = this.map.get(key);
    if (cur === f) this.map.delete(key);
    else if (Array.isArray(cur)) {
      const i = cur.indexOf(f);
      if (i >= 0) cur.splice(i, 1);
      this.memo.delete(cur);
      if (cur.length === 1) {
        this.multi.delete(cur);
        this.map.set(key, cur[0]);
      }
    }
  }
}

function bump<K>(map: Map<K, number>, key: K, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

function bumpInt(map: IntMap<number>, key: number, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

export class Aggregates {
  blank = 0;
  invalid = 0;
  records = 0;
  crlf = 0;
  /** Per-line diagnostics by severity (kind-independent ones only). */
  errors = 0;
  warnings = 0;
  infos = 0;
  readonly formats = new Map<RecordFormat, number>();
  readonly styles = new Map<RecordStyle, number>();
  readonly kinds = new Map<DatasetKind, number>();
  readonly duplicates = new Buckets();
  readonly bands: Buckets[] = Array.from({ length: LSH_BANDS }, () => new Buckets());
  readonly prompts = new IntMap<number>();
  promptRecords = 0;
  pairs = 0;
  chosenLonger = 0;
  rejectedLonger = 0;
  chosenPolite = 0;
  rejectedPolite = 0;
  readonly politePrefixes = new Map<string, number>();

  /** Room for about `records` records in the hash tables before they are added (a large file checked in chunks). */
  reserve(records: number): void {
    this.duplicates.reserve(records);
    for (const band of this.bands) band.reserve(records);
    this.prompts.reserve(records);
  }

  /** Add (sign 1) or remove (sign -1) one line's contribution. */
  apply(f: LineFacts, sign: 1 | -1): void {
    if (f.crlf) this.crlf += sign;
    if (f.diags) {
      for (const d of f.diags) {
        if (d.severity === 'error') this.errors += sign;
        else if (d.severity === 'warning') this.warnings += sign;
        else this.infos += sign;
      }
    }
    if (f.status === 'blank') this.blank += sign;
    else if (f.status === 'invalid') this.invalid += sign;
    if (f.status !== 'record' || !f.format || !f.style) return;
    this.records += sign;
    bump(this.formats, f.format, sign);
    bump(this.styles, f.style, sign);
    bump(this.kinds, kindOfFormat(f.format), sign);
    if (f.dupKey >= 0) {
      if (sign > 0) this.duplicates.add(f.dupKey, f);
      else this.duplicates.remove(f.dupKey, f);
    }
    if (f.signature) {
      for (let b = 0; b < LSH_BANDS; b++) {
        if (sign > 0) this.bands[b].add(bandKey(f.signature, b), f);
        else this.bands[b].remove(bandKey(f.signature, b), f);
      }
    }
    if (f.promptKey >= 0) {
      bumpInt(this.prompts, f.promptKey, sign);
      this.promptRecords += sign;
    }
    if (f.chosenChars >= 0) {
      this.pairs += sign;
      if (f.chosenChars > f.rejectedChars) this.chosenLonger += sign;
      else if (f.rejectedChars > f.chosenChars) this.rejectedLonger += sign;
      if (f.chosenPolite) {
        this.chosenPolite += sign;
        bump(this.politePrefixes, f.chosenPolite, sign);
      }
      if (f.rejectedPolite) this.rejectedPolite += sign;
    }
  }
}
