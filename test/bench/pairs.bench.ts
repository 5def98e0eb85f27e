// The pair inspector on a 50 MB preference file: time to build the index (the host's chunked check),
// the longest the extension host's event loop is blocked by one step, the first page, filters, an
// edit's incremental refresh, the report's data, and memory. Runs the same VS Code-free code the
// panels use (PairsSource, checkSteps, reportData). Prints figures; never asserts a time.

import { performance } from 'node:perf_hooks';
import { swapSides } from '../../core/pairs/pairEdit.ts';
import { checkSteps } from '../../core/report/checkSteps.ts';
import { reportData } from '../../core/report/reportData.ts';
import { PairsSource } from '../../extension/client/panels/pairsSource.ts';
import { prng } from '../helpers/prng.ts';

const TARGET_BYTES = Number(process.env.BENCH_PAIRS_BYTES ?? 50 * 1024 * 1024);

/** Explicit string pairs of made-up prose; chosen usually longer (a length bias), some identical pairs and duplicates. */
function generate(): string {
  const rand = prng(7);
  const syllables = ['ka', 'lo', 'mi', 'ten', 'ra', 'vo', 'shi', 'qu', 'ber', 'nal', 'do', 'ex', 'fi', 'gor', 'hu', 'ja', 'pel', 'sta'];
  const words = Array.from({ length: 4000 }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => syllables[Math.floor(rand() * syllables.length)]).join(''));
  const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ') + '.';
  const text = (sentences: number) => Array.from({ length: sentences }, () => sentence(6 + Math.floor(rand() * 10))).join(' ');
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < TARGET_BYTES; i++) {
    let line: string;
    if (i % 97 === 13) {
      const same = text(3);
      line = JSON.stringify({ id: i, prompt: text(1), chosen: same, rejected: same });
    } else if (i % 101 === 50 && lines.length > 10) {
      line = lines[Math.floor(rand() * 10)];
    } else {
      line = JSON.stringify({ id: i, prompt: text(1 + Math.floor(rand() * 2)), chosen: text(4 + Math.floor(rand() * 5)), rejected: text(2 + Math.floor(rand() * 4)) });
    }
    lines.push(line);
    bytes += Buffer.byteLength(line) + 1;
  }
  return lines.join('\n') + '\n';
}

/** Runs `work`, timing it and the longest gap between consecutive progress calls (one synchronous step). */
async function timed<T>(work: (onProgress: () => void) => Promise<T>): Promise<{ value: T; ms: number; longestStepMs: number; steps: number }> {
  const start = performance.now();
  let last = start;
  let longest = 0;
  let steps = 0;
  const value = await work(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    steps++;
  });
  const end = performance.now();
  longest = Math.max(longest, end - last);
  return { value, ms: end - start, longestStepMs: longest, steps };
}

const f = (ms: number) => `${ms.toFixed(0)} ms`;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

async function main(): Promise<void> {
  let t = performance.now();
  const text = generate();
  console.log(`generated ${mb(Buffer.byteLength(text))} preference file, ${text.split('\n').length - 1} lines, in ${f(performance.now() - t)}`);
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;

  const source = new PairsSource({});
  const load = await timed((p) => source.load(text, 1, p));
  const reset = source.resetMessage('bench.jsonl');
  console.log(`index built (check + pair index): ${f(load.ms)} in ${load.steps} steps; longest event-loop block ${f(load.longestStepMs)}`);
  console.log(`  ${reset.allPairs} pairs, ${reset.flagged} flagged, file findings: ${reset.fileFlags.map((x) => x.code).join(', ') || 'none'}`);

  t = performance.now();
  const page = source.page(0, 40);
  const pageMs = performance.now() - t;
  console.log(`first page (40 pairs): ${pageMs.toFixed(1)} ms, ${kb(Buffer.byteLength(JSON.stringify(page)))} as JSON; open-to-first-page ${f(load.ms + pageMs)}`);
  t = performance.now();
  source.page(Math.floor(reset.total / 2), 40);
  console.log(`a page in the middle: ${(performance.now() - t).toFixed(1)} ms`);

  const flagged = await timed((p) => source.setFilter({ onlyFlagged: true, search: '' }, p));
  console.log(`filter only flagged: ${f(flagged.ms)} -> ${source.resetMessage('b').total} pairs`);
  const search = await timed((p) => source.setFilter({ onlyFlagged: false, search: 'kalo mi' }, p));
  console.log(`search "kalo mi": ${f(search.ms)} in ${search.steps} steps (longest block ${f(search.longestStepMs)}) -> ${source.resetMessage('b').total} pairs`);
  const escaped = await timed((p) => source.setFilter({ onlyFlagged: false, search: 'ka/lo' }, p));
  console.log(`search "ka/lo" (parses every line): ${f(escaped.ms)} (longest block ${f(escaped.longestStepMs)})`);
  await source.setFilter({ onlyFlagged: false, search: '' });

  const line = source.lineText(5);
  t = performance.now();
  source.applyChanges([{ range: { start: { line: 5, character: 0 }, end: { line: 5, character: line.length } }, text: swapSides(line) }], 2, text.split('\n').length);
  const applyMs = performance.now() - t;
  t = performance.now();
  await source.refresh();
  source.page(0, 40);
  console.log(`swap on line 6: apply change ${applyMs.toFixed(1)} ms, refresh index + first page ${f(performance.now() - t)}`);

  globalThis.gc?.();
  console.log(`heap held by the inspector's source: ${mb(process.memoryUsage().heapUsed - heapBefore)} (rss ${mb(process.memoryUsage().rss)})`);

  const report = await timed(async (p) => {
    const steps = checkSteps(text.split('\n'), {});
    for (;;) {
      const s = steps.next();
      if (s.done) return reportData('bench.jsonl', s.value.report());
      p();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  });
  console.log(`report data: ${f(report.ms)} (longest block ${f(report.longestStepMs)}), message ${kb(Buffer.byteLength(JSON.stringify(report.value)))}, histogram bins ${report.value.histogram.counts.length}`);
}

void main();
