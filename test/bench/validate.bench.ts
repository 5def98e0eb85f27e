// `anneal validate` on a seeded 100,000-record conversational SFT file, against the floor: a bare
// Node process that only reads the file and JSON.parses each line. Prints wall times (median of
// runs), their ratio (issue #11: target <= 2.0x) and the validate process's peak RSS. Never asserts a
// time. The one-thread line is the same check without worker threads (ANNEAL_VALIDATE_THREADS=1).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { prng } from '../helpers/prng.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const root = resolve(import.meta.dirname, '../..');
const cli = process.env.ANNEAL_CLI ?? join(root, 'dist/cli.js');

/** A varied vocabulary of made-up words so records are distinct, like real data. */
function vocabulary(rand: () => number, size: number): string[] {
  const syllables = ['ka', 'lo', 'mi', 'ten', 'ra', 'vo', 'shi', 'qu', 'ber', 'nal', 'do', 'ex', 'fi', 'gor', 'hu', 'ja', 'pel', 'sta', 'tri', 'ul', 'wen', 'zo'];
  return Array.from({ length: size }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => syllables[Math.floor(rand() * syllables.length)]).join(''));
}

function generate(file: string): void {
  const rand = prng(20240601);
  const words = vocabulary(rand, 5000);
  const sentence = (n: number) => {
    const w = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]);
    return `${w.join(' ')}.`;
  };
  const paragraph = (min: number, max: number) => Array.from({ length: min + Math.floor(rand() * (max - min)) }, () => sentence(6 + Math.floor(rand() * 10))).join(' ');
  const out: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const messages: { role: string; content: string }[] = [];
    if (rand() < 0.3) messages.push({ role: 'system', content: paragraph(1, 2) });
    const turns = 1 + Math.floor(rand() * 3);
    for (let t = 0; t < turns; t++) {
      messages.push({ role: 'user', content: paragraph(1, 3) });
      messages.push({ role: 'assistant', content: paragraph(2, 6) });
    }
    out.push(JSON.stringify({ messages }));
  }
  writeFileSync(file, out.join('\n') + '\n');
}

const FLOOR = `
const { readFileSync } = require('node:fs');
const lines = readFileSync(process.argv[1], 'utf8').split('\\n');
let n = 0;
for (const line of lines) if (line) { JSON.parse(line); n++; }
`;

function time(args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

if (!existsSync(cli)) {
  const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'anneal-bench-'));
const file = join(dir, 'sft.jsonl');
generate(file);
const rssFile = join(dir, 'rss.txt');
const preload = join(dir, 'rss.cjs');
// Peak RSS of the validate process itself, reported by a preload as it exits.
writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));`);

const floor: number[] = [];
const json: number[] = [];
const human: number[] = [];
const single: number[] = [];
const startup: number[] = [];
// What the CLI costs before it reads a byte of data (loading the bundle), part of every ratio below.
const tiny = join(dir, 'one.jsonl');
writeFileSync(tiny, '{"text": "one record"}\n');
const oneThread = { ...process.env, ANNEAL_VALIDATE_THREADS: '1' };
for (let i = 0; i < RUNS; i++) {
  floor.push(time(['-e', FLOOR, file]));
  json.push(time(['--require', preload, cli, 'validate', file, '--json']));
  human.push(time([cli, 'validate', file]));
  single.push(time([cli, 'validate', file, '--json'], oneThread));
  startup.push(time([cli, 'validate', tiny, '--json']));
}
const rssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
const sizeMiB = statSync(file).size / 1048576;

// The in-process floor without Node start-up, for reference.
const t0 = performance.now();
const text = readFileSync(file, 'utf8');
for (const line of text.split('\n')) if (line) JSON.parse(line);
const inProcess = performance.now() - t0;

console.log(`file: ${RECORDS} conversational SFT records, ${sizeMiB.toFixed(1)} MiB`);
console.log(`floor (node: read + JSON.parse per line): ${median(floor).toFixed(0)} ms (in-process, no start-up: ${inProcess.toFixed(0)} ms)`);
console.log(`anneal validate --json:                   ${median(json).toFixed(0)} ms  ratio ${(median(json) / median(floor)).toFixed(2)}x`);
console.log(`anneal validate (human):                  ${median(human).toFixed(0)} ms  ratio ${(median(human) / median(floor)).toFixed(2)}x`);
console.log(`anneal validate --json, one thread:       ${median(single).toFixed(0)} ms  ratio ${(median(single) / median(floor)).toFixed(2)}x`);
console.log(`anneal validate of a one-line file:        ${median(startup).toFixed(0)} ms  (start-up, ${(median(startup) / median(floor)).toFixed(2)}x of the floor)`);
// Each round's own ratio: on a shared machine one busy round shows here rather than in the medians.
console.log(`--json / floor, round by round: ${json.map((t, i) => `${(t / floor[i]).toFixed(2)}x`).join(', ')}`);
console.log(`validate peak RSS: ${rssMiB.toFixed(0)} MiB; cores available: ${availableParallelism()}; load average ${loadavg()[0].toFixed(1)}`);
rmSync(dir, { recursive: true, force: true });
