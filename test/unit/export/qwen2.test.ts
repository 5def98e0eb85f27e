// GGUF of a Qwen2 model (test/fixtures/engine/architectures/qwen2: q/k/v biases, untied head, no q/k
// row reordering in llama.cpp's qwen2 architecture), exported from a full model folder: llama.cpp
// (node-llama-cpp) continues chat prompts with Anneal's greedy tokens. The fixture has no tokenizer:
// a 40-token byte-level one (37 characters and ChatML's three special tokens) is written beside it.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Message } from '../../../core/datasets/types.ts';
import { byteToUnicodeTable } from '../../../core/tokenize/bytes.ts';
import { readGgufHeader } from '../../../daemon/engine/gguf.ts';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { useBackend } from '../engine/helpers.ts';
import { llamaCppRun } from './llamaCpp.ts';
import { annealReference, maxAbsDiff } from './reference.ts';

const QWEN2 = join(import.meta.dirname, '../../fixtures/engine/architectures/qwen2');
const CHARS = ['\n', ' ', ...'abcdefghijklmnopqrstuvwxyz', '!', '?', '.', ',', "'", 'H', 'I', 'W', 'Y'];
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const CHATML =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
const PROMPTS = {
  max_new_tokens: 8,
  conversations: [[{ role: 'user', content: 'Hi there' }], [{ role: 'system', content: 'be kind.' }, { role: 'user', content: 'who are you?' }]] as Message[][],
};

/** tokenizer.json + tokenizer_config.json of a 40-token byte-level vocabulary. */
function writeTokenizer(dir: string): void {
  const table = byteToUnicodeTable();
  const vocab = Object.fromEntries(CHARS.map((c, i) => [table[c.charCodeAt(0)]!, i]));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const added = SPECIALS.map((content, i) => ({ id: CHARS.length + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = { version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null, pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel, model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] } };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: CHATML, eos_token: '<|im_end|>', pad_token: '<|endoftext|>', bos_token: null, add_bos_token: false }));
}

describe('export --format gguf of a Qwen2 model', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-qwen2-'));
  const model = join(work, 'qwen2');
  before(async () => {
    await useBackend();
    cpSync(QWEN2, model, { recursive: true, filter: (src) => !src.endsWith('reference.json') });
    writeTokenizer(model);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const quant of ['f32', 'f16']) {
    test(`${quant}: qwen2 metadata and biases; llama.cpp gives Anneal's greedy tokens`, async () => {
      const result = await exportRun(model, { format: 'gguf', quant, out: join(work, quant), stateDir: work });
      assert.equal(result.merged, undefined, 'a full model folder: nothing to merge');
      const header = await readGgufHeader(result.gguf!);
      assert.equal(header.metadata['general.architecture'], 'qwen2');
      assert.ok(header.tensors.some((t) => t.name === 'blk.0.attn_q.bias') && header.tensors.some((t) => t.name === 'output.weight'), 'q/k/v biases and the untied head');
      const reference = await annealReference(model, 42, PROMPTS);
      const fromGguf = await annealReference(result.gguf!, 42, PROMPTS);
      const diff = Math.max(...fromGguf.map((g, i) => maxAbsDiff(g.logits, reference[i]!.logits)));
      const { results } = await llamaCppRun(result.gguf!, PROMPTS.conversations, reference.map((r) => r.text), PROMPTS.max_new_tokens);
      results.forEach((r, i) => {
        assert.deepEqual(r.templateIds, reference[i]!.ids);
        assert.deepEqual(r.greedy, reference[i]!.greedy, `conversation ${i} (Anneal's margins ${reference[i]!.margins.map((m) => m.toFixed(3))})`);
      });
      console.log(`qwen2 ${quant}: Anneal on the GGUF vs the folder max |logit diff| ${diff.toExponential(2)}; llama.cpp greedy = Anneal greedy, ${results.map((r) => r.greedy.length).join('/')} tokens (smallest margin ${Math.min(...reference.flatMap((r) => r.margins)).toFixed(3)})`);
    });
  }
});
