// One-off figures for the export docs, on the real SmolLM2-135M-Instruct (not part of `npm test`: a
// minute or two on 2 cores). Given a LoRA run's output folder on the SmolLM2 GGUF:
//   node --import tsx test/integration/export/smollm2Check.ts <run>/output <work dir>
// it exports the run as GGUF f16, q8_0, q6_k, q4_k_m and as gguf-lora, and prints
// - file sizes, and each quantization's RMSE against the merged float32 weights (relative to their RMS);
// - greedy tokens: llama.cpp (node-llama-cpp) on each GGUF (and Anneal on the q4_k_m one) against
//   Anneal's unquantized base + adapter, per prompt (tokens equal position by position, common prefix);
// - llama.cpp on an f16 GGUF of the base with the gguf-lora adapter, against the same reference.
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHATML_TEMPLATE } from '../../../core/tokenize/template.ts';
import { readGgufHeader, readGgufWeights } from '../../../daemon/engine/gguf.ts';
import { openModelSource } from '../../../daemon/engine/modelSource.ts';
import { chatTemplateOf, loadExportModel } from '../../../daemon/export/exportModel.ts';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { writeGgufExport } from '../../../daemon/export/ggufExport.ts';
import { quantType } from '../../../daemon/export/ggufQuant.ts';
import { resolveExportSource } from '../../../daemon/export/source.ts';
import { useBackend } from '../../unit/engine/helpers.ts';
import { llamaCppRun } from '../../unit/export/llamaCpp.ts';
import { annealReference, PROMPTS } from '../../unit/export/reference.ts';

const MAX_NEW = 16;
const prompts = {
  max_new_tokens: MAX_NEW,
  conversations: [
    ...PROMPTS.conversations,
    [{ role: 'user' as const, content: 'What is the capital of France?' }],
    [{ role: 'user' as const, content: 'Write one sentence about the sea.' }],
    [{ role: 'user' as const, content: 'List three colours.' }],
  ],
};

function agreement(a: number[][], b: number[][]): string {
  let equal = 0;
  let total = 0;
  const prefixes = a.map((x, i) => {
    const y = b[i]!;
    let k = 0;
    while (k < x.length && k < y.length && x[k] === y[k]) k++;
    for (let j = 0; j < Math.max(x.length, y.length); j++, total++) if (x[j] === y[j]) equal++;
    return `${k}/${x.length}`;
  });
  return `${equal}/${total} tokens equal (${((100 * equal) / total).toFixed(0)}%), common prefixes ${prefixes.join(' ')}`;
}

async function main(): Promise<void> {
  const [adapter, work] = process.argv.slice(2);
  if (!adapter || !work) throw new Error('usage: smollm2Check.ts <run output folder> <work dir>');
  await useBackend();
  mkdirSync(work, { recursive: true });
  const source = resolveExportSource(adapter, work);
  const merged = await loadExportModel(source, 'check');
  const started = Date.now();
  const reference = await annealReference(adapter, source.seed, prompts);
  console.log(`(reference in ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  const refGreedy = reference.map((r) => r.greedy);
  const texts = reference.map((r) => r.text);
  console.log(`reference: Anneal, base + adapter unmerged, ${prompts.conversations.length} prompts x up to ${MAX_NEW} tokens`);

  for (const quant of ['f16', 'q8_0', 'q6_k', 'q4_k_m']) {
    const result = await exportRun(adapter, { format: 'gguf', quant, out: join(work, quant), stateDir: work });
    const gguf = result.gguf!;
    const header = await readGgufHeader(gguf);
    const read = readGgufWeights(header);
    let err = 0;
    let sq = 0;
    for (const [name, w] of merged.weights) {
      const r = read.get(name);
      if (!r || w.shape.length < 2) continue;
      for (let i = 0; i < w.data.length; i++) {
        err += (r.data[i]! - w.data[i]!) ** 2;
        sq += w.data[i]! ** 2;
      }
    }
    const types = new Map<string, number>();
    for (const t of header.tensors) if (t.shape.length > 1) types.set(String(t.type), (types.get(String(t.type)) ?? 0) + 1);
    // Anneal reading the file back (slow on 2 cores: full forwards per token) for the k-quant only.
    const annealOnFile = quant === 'q4_k_m' ? (await annealReference(gguf, source.seed, prompts)).map((r) => r.greedy) : undefined;
    const llama = (await llamaCppRun(gguf, prompts.conversations, texts, MAX_NEW)).results.map((r) => r.greedy);
    console.log(`\n${quant}: ${(statSync(gguf).size / 2 ** 20).toFixed(1)} MiB, matrices' RMSE / RMS vs float32 ${Math.sqrt(err / sq).toFixed(4)}; ggml types of matrices ${[...types].map(([t, n]) => `${t}:${n}`).join(' ')}; notes: ${result.notes.join(' | ') || '-'}`);
    console.log(`  llama.cpp on the file vs unquantized: ${agreement(refGreedy, llama)}`);
    if (annealOnFile) {
      console.log(`  Anneal on the file vs unquantized:    ${agreement(refGreedy, annealOnFile)}`);
      console.log(`  llama.cpp vs Anneal, same file:       ${agreement(annealOnFile, llama)}`);
    }
  }

  // gguf-lora on an f16 GGUF of the base (the weights Anneal trained on, from the Q4_1 file).
  const lora = await exportRun(adapter, { format: 'gguf-lora', out: join(work, 'lora'), stateDir: work });
  const base = await openModelSource(merged.merged!.base, source.seed);
  const template = chatTemplateOf(base.tokenizerFiles);
  mkdirSync(join(work, 'base'), { recursive: true });
  writeGgufExport(join(work, 'base'), 'base-f16.gguf', { ...base, chatTemplate: template ?? CHATML_TEMPLATE, chatTemplateIsFallback: template === undefined, merged: null }, quantType('f16'));
  const withAdapter = (await llamaCppRun(join(work, 'base', 'base-f16.gguf'), prompts.conversations, texts, MAX_NEW, lora.gguf)).results.map((r) => r.greedy);
  const baseOnly = (await llamaCppRun(join(work, 'base', 'base-f16.gguf'), prompts.conversations, texts, MAX_NEW)).results.map((r) => r.greedy);
  const original = (await llamaCppRun(merged.merged!.base, prompts.conversations, texts, MAX_NEW, lora.gguf)).results.map((r) => r.greedy);
  console.log(`\ngguf-lora f16: ${(statSync(lora.gguf!).size / 2 ** 10).toFixed(0)} KiB (${lora.files.join(', ')}); notes: ${lora.notes.join(' | ') || '-'}`);
  console.log(`  llama.cpp base f16 + adapter vs Anneal base + adapter: ${agreement(refGreedy, withAdapter)}`);
  console.log(`  llama.cpp base f16 without the adapter vs the same:    ${agreement(refGreedy, baseOnly)}`);
  console.log(`  llama.cpp on the original Q4_1 base + adapter:          ${agreement(refGreedy, original)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
