// Generates examples/arithmetic.jsonl (training) and examples/arithmetic-eval.jsonl (held out): GRPO's
// verifiable task for SmolLM2-135M-Instruct. Each record is a conversational prompt "What is a + b?"
// with the sum in an `answer` column, which the built-in answer_match reward compares the reply's
// last number with. Sums of two numbers up to 30: easy enough that the model is right a third of the
// time when sampling (so groups differ and GRPO has a signal), hard enough that it has room to grow.
// Deterministic: every pair (a, b) in a fixed shuffled order, split 240 / 40, no pair in both.
// Run: node examples/make_arithmetic.mjs
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

let state = 20261129;
function rand() {
  // mulberry32
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pairs = [];
for (let a = 1; a <= 30; a++) for (let b = 1; b <= 30; b++) pairs.push([a, b]);
for (let i = pairs.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
}
const line = ([a, b]) => JSON.stringify({ prompt: [{ role: 'user', content: `What is ${a} + ${b}?` }], answer: String(a + b) });
const dir = import.meta.dirname;
writeFileSync(join(dir, 'arithmetic.jsonl'), pairs.slice(0, 240).map(line).join('\n') + '\n');
writeFileSync(join(dir, 'arithmetic-eval.jsonl'), pairs.slice(240, 280).map(line).join('\n') + '\n');
