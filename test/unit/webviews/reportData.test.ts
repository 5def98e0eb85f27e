import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkDataset } from '../../../core/datasets/index.ts';
import { lengthHistogram, niceStep } from '../../../core/report/histogram.ts';
import { reportData } from '../../../core/report/reportData.ts';

test('niceStep rounds up to 1, 2 or 5 times a power of ten', () => {
  assert.deepEqual([0.3, 1, 1.5, 3, 7, 12, 450, 999].map(niceStep), [0.5, 1, 2, 5, 10, 20, 500, 1000]);
  assert.equal(niceStep(0), 1);
});

test('histogram: every value lands in exactly one bin; edges are a nice step from zero', () => {
  const values = Array.from({ length: 1000 }, (_, i) => (i * 37) % 950);
  const h = lengthHistogram(values, 20);
  assert.equal(h.edges.length, h.counts.length + 1);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), values.length);
  assert.equal(h.edges[0], 0);
  const step = h.edges[1] - h.edges[0];
  assert.equal(step, 50);
  for (let i = 1; i < h.edges.length - 1; i++) assert.equal(h.edges[i] - h.edges[i - 1], step);
  assert.ok(h.counts.length <= 20);
  // Recount by hand.
  for (let b = 0; b < h.counts.length - 1; b++) assert.equal(h.counts[b], values.filter((v) => v >= h.edges[b] && v < h.edges[b + 1]).length);
});

test('histogram: an outlier goes to the open-ended last bin instead of stretching the axis', () => {
  const values = [...Array.from({ length: 999 }, (_, i) => i % 100), 1_000_000];
  const h = lengthHistogram(values, 10);
  assert.ok(h.edges[h.edges.length - 2] <= 100, `bins sized to p99, got ${h.edges}`);
  assert.equal(h.edges[h.edges.length - 1], 1_000_000);
  assert.ok(h.counts[h.counts.length - 1] >= 1);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), 1000);
});

test('histogram: empty and constant inputs', () => {
  assert.deepEqual(lengthHistogram([]), { edges: [0, 1], counts: [0] });
  const h = lengthHistogram([5, 5, 5]);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), 3);
  assert.equal(h.counts.filter((c) => c > 0).length, 1);
});

test('report data agrees with the checker: counts per code, duplicates with their first line, capped lists', () => {
  const lines = readFileSync('examples/preference.jsonl', 'utf8').trimEnd().split('\n');
  lines.push(lines[0], lines[1], '{"prompt": "x", "chosen": "y", "rejected": "y"}', '{"broken"');
  const report = checkDataset(lines.join('\n') + '\n', { maxDiagnostics: Infinity });
  const data = reportData('preference.jsonl', report, { cap: 1 });
  const n = lines.length;
  assert.deepEqual(data.duplicates, [{ line: n - 4, firstLine: 0 }]);
  assert.equal(data.truncated, true);
  assert.equal(data.diagnostics.length, 1);
  const byCode = Object.fromEntries(data.byCode.map((c) => [c.code, c.count]));
  assert.equal(byCode['duplicate-record'], 2);
  assert.equal(byCode['identical-pair'], 1);
  assert.equal(byCode['json-syntax'], 1);
  assert.equal(data.byCode.reduce((a, c) => a + c.count, 0), report.summary.errors + report.summary.warnings + report.summary.infos);
  // Errors sort first.
  assert.equal(data.byCode[0].severity, 'error');
  assert.equal(data.histogram.unit, 'characters');
  assert.equal(data.histogram.counts.reduce((a, b) => a + b, 0), report.summary.records);
  assert.equal(data.summary.records, report.summary.records);
});

test('report data counts tokens when a tokenizer counted them', () => {
  const text = ['{"prompt":"a","chosen":"bb","rejected":"c"}', '{"prompt":"aaaa","chosen":"b","rejected":"cc"}'].join('\n');
  const report = checkDataset(text, { countTokens: (r) => (r.format === 'preference' ? String(r.prompt).length * 10 : 0) });
  const data = reportData('f.jsonl', report, { tokenizer: 'test tokenizer' });
  assert.equal(data.histogram.unit, 'tokens');
  assert.equal(data.tokenizer, 'test tokenizer');
  assert.equal(data.histogram.edges[data.histogram.edges.length - 1] >= 40, true);
  const chars = reportData('f.jsonl', report);
  assert.equal(chars.histogram.unit, 'characters');
  assert.equal(chars.tokenizer, undefined);
});

test('histogram bars: scaled to the tallest bin, labelled by range, last bin open-ended', async () => {
  const { histogramBars } = await import('../../../webviews/report/bars.ts');
  const bars = histogramBars([0, 100, 200, 5000], [10, 5, 0], 300, 100);
  assert.deepEqual(bars.map((b) => b.height), [100, 50, 0]);
  assert.deepEqual(bars.map((b) => b.label), ['0–99', '100–199', '≥ 200']);
  assert.equal(bars[1].x, 101);
  assert.equal(bars[0].width, 98);
  assert.deepEqual(histogramBars([0, 1, 2], [1, 2], 10, 10).map((b) => b.label), ['0', '1']);
  assert.deepEqual(histogramBars([0, 1], [], 10, 10), []);
});
