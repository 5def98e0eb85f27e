// Fuzzing with a seeded PRNG: random mutations of valid records must never throw, every line that
// no longer parses gets an error on that line, every range stays inside its line, and untouched
// valid lines get no diagnostics — except duplicate/near-duplicate findings whose related record is
// a mutated line (a mutation can create a copy of an untouched record).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDataset, DatasetModel } from '../../../core/datasets/index.ts';
import { prng } from '../../helpers/prng.ts';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const NOUNS = ['harbor', 'violin', 'glacier', 'lantern', 'orchard', 'compass', 'meteor', 'quarry', 'saddle', 'beacon', 'thicket', 'pigment', 'tundra', 'ferry', 'anvil', 'marble'];
const VERBS = ['explain', 'describe', 'compare', 'summarise', 'list', 'classify', 'estimate', 'sketch'];

function validLine(rand: () => number, i: number): string {
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)];
  const words = (n: number) => Array.from({ length: n }, () => pick(NOUNS)).join(' ');
  const messages = [
    ...(rand() < 0.3 ? [{ role: 'system', content: `You are helper ${i}.` }] : []),
    { role: 'user', content: `Record ${i}: ${pick(VERBS)} ${words(5)}?` },
    { role: 'assistant', content: `Answer ${i}: ${words(8)} — ünïcödé ✓ 漢字 ${i * 7}.` },
  ];
  return JSON.stringify({ messages });
}

const MUTATIONS: ((s: string, rand: () => number) => string)[] = [
  (s, r) => { const i = Math.floor(r() * s.length); return s.slice(0, i) + s.slice(i + 1); },
  (s, r) => { const i = Math.floor(r() * s.length); return s.slice(0, i) + '{}[]",:\\\u0000\u0007x'[Math.floor(r() * 12)] + s.slice(i); },
  (s, r) => s.slice(0, Math.floor(r() * s.length)),
  (s) => s.replace('"role"', '"rol"'),
  (s) => s.replace('"assistant"', '"asistant"'),
  (s) => s.replace(/"content":"[^"]*"/, '"content":""'),
  (s) => s.replace('"messages"', '"msgs"'),
  (s) => `[${s}]`,
  (s) => s + s,
  (s) => s.replace('"user"', '"assistant"'),
  (s, r) => { const i = Math.floor(r() * s.length); return s.slice(0, i) + '\uFFFD\u00a0' + s.slice(i); },
  () => '   ',
  (s) => `\uFEFF${s}`,
  (s) => s.replace(/"content":"([^"]*)"/, '"content":[{"type":"text","text":"$1"}]'),
];

for (const seed of SEEDS) {
  test(`fuzz seed ${seed}`, () => {
    const rand = prng(seed);
    const lines = Array.from({ length: 200 }, (_, i) => validLine(rand, i));
    const mutated = new Set<number>();
    for (let k = 0; k < 40; k++) {
      const i = Math.floor(rand() * lines.length);
      const m = MUTATIONS[Math.floor(rand() * MUTATIONS.length)];
      lines[i] = m(lines[i], rand);
      mutated.add(i);
    }
    const text = lines.join('\n') + '\n';
    const report = checkDataset(text);
    for (const d of report.diagnostics) {
      const line = d.range.start.line;
      assert.equal(d.range.end.line, line);
      assert.ok(d.range.start.character >= 0 && d.range.end.character <= (lines[line] ?? '').length, `range inside line ${line}: ${JSON.stringify(d)}`);
      if (mutated.has(line)) continue;
      const related = d.related?.[0]?.range.start.line;
      const allowed = (d.code === 'duplicate-record' || d.code === 'near-duplicate') && related !== undefined && mutated.has(related);
      assert.ok(allowed, `untouched line ${line} got ${d.code}: ${d.message}\n${lines[line]}`);
    }
    for (const i of mutated) {
      let parses = true;
      try {
        JSON.parse(lines[i].replace(/^\uFEFF/, ''));
      } catch {
        parses = false;
      }
      const onLine = report.diagnostics.filter((d) => d.range.start.line === i);
      if (!parses && lines[i].trim() !== '') assert.ok(onLine.some((d) => d.severity === 'error'), `line ${i} does not parse but has no error: ${lines[i]}`);
    }
    // The same text through the incremental model, edited line by line from a clean file, agrees.
    const model = new DatasetModel();
    model.setText(Array.from({ length: 200 }, (_, i) => validLine(prng(seed + 1000), i)).join('\n') + '\n');
    for (let i = 0; i < lines.length; i++) model.applyEdit(i, i + 1, [lines[i]]);
    assert.deepEqual(model.report().diagnostics, report.diagnostics);
  });
}
