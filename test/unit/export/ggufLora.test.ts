// `anneal export --format gguf-lora` on the tiny LoRA fixture, f16 and f32:
// - the file is a llama.cpp adapter (general.type adapter, adapter.type lora, adapter.lora.alpha) with
//   each adapted matrix's lora_a / lora_b under the base's GGUF name, A as trained and B with the
//   q/k rows in llama.cpp's RoPE order (read back and un-permuted, B is the trained B);
// - llama.cpp (node-llama-cpp 3.21.1) loads an f16 GGUF of the base with the adapter (its context's
//   `lora` option) and continues each prompt with Anneal's greedy tokens for base + adapter.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHATML_TEMPLATE } from '../../../core/tokenize/template.ts';
import { dequantize, floatToHalf, halfToFloat } from '../../../daemon/engine/dequantize.ts';
import { readGgufHeader, unpermuteRows } from '../../../daemon/engine/gguf.ts';
import { openModelSource } from '../../../daemon/engine/modelSource.ts';
import { readPeftAdapter } from '../../../daemon/engine/peftAdapter.ts';
import { chatTemplateOf } from '../../../daemon/export/exportModel.ts';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { writeGgufExport } from '../../../daemon/export/ggufExport.ts';
import { quantType } from '../../../daemon/export/ggufQuant.ts';
import { useBackend } from '../engine/helpers.ts';
import { llamaCppRun } from './llamaCpp.ts';
import { annealReference, PROMPTS, TINY_LORA, type Reference } from './reference.ts';

/** Reads tensor `name` of a GGUF file as float32, shape outermost first. */
function readTensor(path: string, header: Awaited<ReturnType<typeof readGgufHeader>>, name: string): { shape: number[]; data: Float32Array; type: number } {
  const t = header.tensors.find((x) => x.name === name);
  assert.ok(t, `${name} is in the file`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  const bytes = readFileSync(path).subarray(t.offset);
  return { shape: t.shape, data: dequantize(bytes, t.type, count), type: t.type };
}

describe('export --format gguf-lora', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-lora-'));
  let reference: Reference[];
  let base: string;
  before(async () => {
    await useBackend();
    reference = await annealReference(TINY_LORA, 42);
    // The base for llama.cpp: the tiny model the fixture was trained from (seed 42), as an f16 GGUF.
    const source = await openModelSource('tiny', 42);
    const template = chatTemplateOf(source.tokenizerFiles);
    mkdirSync(join(work, 'base'));
    writeGgufExport(join(work, 'base'), 'tiny-f16.gguf', { ...source, chatTemplate: template ?? CHATML_TEMPLATE, chatTemplateIsFallback: template === undefined, merged: null }, quantType('f16'));
    base = join(work, 'base', 'tiny-f16.gguf');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const quant of ['f16', 'f32'] as const) {
    describe(quant, () => {
      let gguf: string;

      test('writes a llama.cpp adapter: metadata, names, shapes, A as trained, B in llama.cpp\'s q/k row order', async () => {
        const out = join(work, quant);
        const result = await exportRun(TINY_LORA, { format: 'gguf-lora', quant, out, stateDir: work });
        gguf = result.gguf!;
        assert.deepEqual(readdirSync(out), [`tiny-lora-lora-${quant}.gguf`], 'no Modelfile: the tiny base has no file for FROM');
        assert.match(result.notes.join(' '), /applies this adapter to a GGUF of its base tiny .*--lora tiny-lora-lora-/);
        const header = await readGgufHeader(gguf);
        assert.equal(header.metadata['general.type'], 'adapter');
        assert.equal(header.metadata['general.architecture'], 'llama');
        assert.equal(header.metadata['adapter.type'], 'lora');
        assert.equal(header.metadata['adapter.lora.alpha'], 16);
        const adapter = readPeftAdapter(TINY_LORA);
        assert.equal(header.tensors.length, adapter.tensors.size, 'one GGUF tensor per PEFT tensor');
        const round = quant === 'f16' ? (x: number) => halfToFloat(floatToHalf(x)) : (x: number) => Math.fround(x);
        for (let layer = 0; layer < 4; layer++) {
          for (const [hf, gg, heads] of [['self_attn.q_proj', 'attn_q', 4], ['self_attn.k_proj', 'attn_k', 2], ['mlp.down_proj', 'ffn_down', 0]] as const) {
            const a = adapter.tensors.get(`base_model.model.model.layers.${layer}.${hf}.lora_A.weight`)!;
            const b = adapter.tensors.get(`base_model.model.model.layers.${layer}.${hf}.lora_B.weight`)!;
            const ga = readTensor(gguf, header, `blk.${layer}.${gg}.weight.lora_a`);
            const gb = readTensor(gguf, header, `blk.${layer}.${gg}.weight.lora_b`);
            assert.deepEqual(ga.shape, a.shape);
            assert.deepEqual(gb.shape, b.shape);
            assert.deepEqual(ga.data, a.data.map(round), `blk.${layer}.${gg} lora_a`);
            const back = heads ? unpermuteRows(gb.data, b.shape[0]!, b.shape[1]!, heads) : gb.data;
            assert.deepEqual(back, b.data.map(round), `blk.${layer}.${gg} lora_b`);
            if (heads) assert.notDeepEqual(gb.data, b.data.map(round), 'q/k rows are reordered');
          }
        }
      });

      test('llama.cpp applies it to the base GGUF and continues with Anneal\'s greedy tokens', async () => {
        const { results } = await llamaCppRun(base, PROMPTS.conversations, reference.map((r) => r.text), PROMPTS.max_new_tokens, gguf);
        results.forEach((r, i) => {
          assert.deepEqual(r.textIds, reference[i]!.ids);
          assert.deepEqual(r.greedy, reference[i]!.greedy, `conversation ${i}: greedy tokens differ (Anneal's margins ${reference[i]!.margins.map((m) => m.toFixed(3))})`);
        });
        const tokens = results.reduce((n, r) => n + r.greedy.length + 1, 0);
        console.log(`gguf-lora ${quant}: llama.cpp base f16 + adapter greedy = Anneal base + adapter on ${results.length} prompts (${tokens} tokens incl. the stop)`);
      });
    });
  }

  test('without the adapter llama.cpp answers otherwise (the check above sees the adapter)', async () => {
    const { results } = await llamaCppRun(base, PROMPTS.conversations, reference.map((r) => r.text), PROMPTS.max_new_tokens);
    assert.ok(results.some((r, i) => r.greedy.join() !== reference[i]!.greedy.join()));
  });

  test('refusals: a full fine-tune has no adapter, quant is f16 or f32', async () => {
    await assert.rejects(exportRun(TINY_LORA, { format: 'gguf-lora', quant: 'q8_0', out: join(work, 'q8'), stateDir: work }), /--quant q8_0 is not an encoding of a GGUF adapter; choose f16 or f32/);
    const merged = join(work, 'merged');
    await exportRun(TINY_LORA, { format: 'merged', out: merged, stateDir: work });
    await assert.rejects(exportRun(merged, { format: 'gguf-lora', out: join(work, 'x'), stateDir: work }), /trained the whole model, so there is no LoRA adapter to export/);
  });
});
