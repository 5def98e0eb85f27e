// Whole-file checks. They read the running aggregates and the cached per-line facts (with fresh
// `index` values) and return diagnostics keyed by the line they belong on.

import type { Diagnostic, Range } from '../diagnostics.ts';
import { DATASET_CODES, type DatasetCode } from './codes.ts';
import type { Aggregates } from './aggregates.ts';
import { similarity } from './fingerprint.ts';
import type { LineFacts } from './lineAnalysis.ts';
import type { DatasetKind } from './types.ts';

/** Below this many pairs/records, distribution checks stay silent (too little evidence). */
export const MIN_PAIRS_FOR_BIAS = 10;
export const LENGTH_BIAS_SHARE = 0.7;
export const POLITE_MIN_SHARE = 0.3;
export const NEAR_DUPLICATE_SIMILARITY = 0.8;
/** Members of one LSH bucket compared pairwise at most (templated data can fill one bucket). */
const MAX_BUCKET_COMPARE = 40;

export function lineRange(f: LineFacts, start: number, end: number): Range {
  return { start: { line: f.index, character: start }, end: { line: f.index, character: end } };
}

function make(code: DatasetCode, message: string, range: Range, extra?: Partial<Diagnostic>): Diagnostic {
  return { code, severity: DATASET_CODES[code], message, range, ...extra };
}

/** Later exact copies of a record, each pointing at the first. */
export function duplicateDiagnostics(agg: Aggregates, out: Map<LineFacts, Diagnostic[]>): number {
  let count = 0;
  for (const group of agg.duplicates.multi) {
    const sorted = [...group].sort((a, b) => a.index - b.index);
    const firstByCheck = new Map<number, LineFacts>();
    for (const f of sorted) {
      const first = firstByCheck.get(f.dupCheck);
      if (!first) {
        firstByCheck.set(f.dupCheck, f);
        continue;
      }
      count++;
      add(out, f, make('duplicate-record', `This record duplicates line ${first.index + 1}; remove one copy (duplicates over-weight it in training).`, lineRange(f, f.anchor.start, f.anchor.end), {
        related: [{ range: lineRange(first, first.anchor.start, first.anchor.end), message: 'First occurrence' }],
        data: { firstLine: first.index },
      }));
    }
  }
  return count;
}

/** Records whose MinHash signatures say they are nearly the same as an earlier record. */
export function nearDuplicateDiagnostics(agg: Aggregates, out: Map<LineFacts, Diagnostic[]>): number {
  const earliest = new Map<LineFacts, LineFacts>();
  for (const band of agg.bands) {
    for (const group of band.multi) {
      let pairs = band.memo.get(group);
      if (!pairs) {
        pairs = similarPairs(group);
        band.memo.set(group, pairs);
      }
      for (let [a, b] of pairs) {
        if (a.index > b.index) [a, b] = [b, a];
        const known = earliest.get(b);
        if (!known || known.index > a.index) earliest.set(b, a);
      }
    }
  }
  for (const [f, first] of earliest) {
    add(out, f, make('near-duplicate', `This record is nearly the same as line ${first.index + 1}; consider keeping only one.`, lineRange(f, f.anchor.start, f.anchor.end), {
      related: [{ range: lineRange(first, first.anchor.start, first.anchor.end), message: 'Similar record' }],
      data: { firstLine: first.index },
    }));
  }
  return earliest.size;
}

function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** Distribution checks placed on the first record: length bias, polite prefixes, prompt diversity. */
export function distributionDiagnostics(agg: Aggregates, kind: DatasetKind | undefined, first: LineFacts): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = lineRange(first, first.anchor.start, first.anchor.end);
  if (kind === 'preference' && agg.pairs >= MIN_PAIRS_FOR_BIAS) {
    const share = agg.chosenLonger / agg.pairs;
    if (share >= LENGTH_BIAS_SHARE) {
      out.push(make('length-bias', `"chosen" is longer than "rejected" in ${percent(share)} of pairs (${agg.chosenLonger} of ${agg.pairs}); the model may learn "longer is better" instead of the preference. Add pairs where the better answer is shorter.`, at, { data: { share } }));
    }
    const chosenShare = agg.chosenPolite / agg.pairs;
    const rejectedShare = agg.rejectedPolite / agg.pairs;
    if (chosenShare >= POLITE_MIN_SHARE && chosenShare >= 2 * rejectedShare + 0.1) {
      let top = '';
      let topCount = 0;
      for (const [prefix, n] of agg.politePrefixes) if (n > topCount) [top, topCount] = [prefix, n];
      out.push(make('polite-prefix-bias', `${percent(chosenShare)} of "chosen" replies open with a polite phrase (most often "${top}") against ${percent(rejectedShare)} of "rejected"; the model may learn the phrase instead of the preference. Vary the openings.`, at, { data: { chosenShare, rejectedShare, prefix: top } }));
    }
  }
  if (agg.promptRecords >= 20) {
    const distinct = agg.prompts.size / agg.promptRecords;
    const floor = kind === 'preference' ? 0.25 : 0.5;
    if (distinct < floor) {
      out.push(make('low-prompt-diversity', `Only ${agg.prompts.size} distinct prompts in ${agg.promptRecords} records (${percent(distinct)}); more varied prompts generalise better.`, at, { data: { distinct: agg.prompts.size, records: agg.promptRecords } }));
    }
  }
  return out;
}

/** Pairs in one LSH bucket that really are similar (and not exact duplicates, reported as such). */
function similarPairs(group: LineFacts[]): [LineFacts, LineFacts][] {
  const pairs: [LineFacts, LineFacts][] = [];
  const members = group.length > MAX_BUCKET_COMPARE ? group.slice(0, MAX_BUCKET_COMPARE) : group;
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i];
      const b = members[j];
      if (a.dupKey === b.dupKey && a.dupCheck === b.dupCheck) continue;
      if (a.signature && b.signature && similarity(a.signature, b.signature) >= NEAR_DUPLICATE_SIMILARITY) pairs.push([a, b]);
    }
  }
  return pairs;
}

/** A file that is a JSON document or a CSV rather than JSON Lines. */
export function notJsonlDiagnostic(agg: Aggregates, facts: LineFacts[]): Diagnostic | undefined {
  const nonBlank = agg.records + agg.invalid;
  if (nonBlank === 0 || agg.invalid * 2 < nonBlank) return undefined;
  const first = facts.find((f) => f.status !== 'blank');
  if (!first || first.status !== 'invalid' || !first.shape) return undefined;
  const what = first.shape === 'json-open' ? 'a JSON document spread over several lines' : 'comma-separated values';
  return make('not-jsonl', `This file looks like ${what}, not JSON Lines; put one JSON object on each line (e.g. \`jq -c '.[]' data.json > data.jsonl\`).`, lineRange(first, 0, Math.max(1, first.length)));
}

/** The first line whose ending differs from the file's usual one. */
export function lineEndingDiagnostic(agg: Aggregates, facts: LineFacts[]): Diagnostic | undefined {
  const terminated = facts.length - 1; // the last line has no line break
  const last = facts[facts.length - 1];
  const crlf = agg.crlf - (last?.crlf ? 1 : 0);
  const lf = terminated - crlf;
  if (crlf === 0 || lf === 0) return undefined;
  const minorityIsCrlf = crlf < lf;
  for (let i = 0; i < terminated; i++) {
    if (facts[i].crlf === minorityIsCrlf) {
      const f = facts[i];
      return make('mixed-line-endings', `The file mixes CRLF and LF line endings (${crlf} CRLF, ${lf} LF); pick one (most tools expect LF).`, lineRange(f, f.length, f.length));
    }
  }
  return undefined;
}

function add(out: Map<LineFacts, Diagnostic[]>, f: LineFacts, d: Diagnostic): void {
  const list = out.get(f);
  if (list) list.push(d);
  else out.set(f, [d]);
}
