// A merged export of a GPT-2 LoRA adapter (test/fixtures/engine/architectures/gpt2 and its PEFT
// adapter, fan_in_fan_out): the folder keeps GPT-2's checkpoint layout (Conv1D weights [in, out], its
// own size keys), so Anneal and transformers read it as the base with the adapter applied. GGUF of
// GPT-2 is refused with the reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Message } from '../../../core/datasets/types.ts';
import { tinyTokenizerFiles } from '../../../core/tokenize/tiny.ts';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { useBackend } from '../engine/helpers.ts';
import { annealReference, FIXTURES, maxAbsDiff, venvPython } from './reference.ts';

const GPT2 = join(import.meta.dirname, '../../fixtures/engine/architectures/gpt2');
// n_positions is 32: short prompts, few new tokens.
const PROMPTS = { max_new_tokens: 4, conversations: [[{ role: 'user', content: 'Hi' }], [{ role: 'user', content: 'Yo!' }]] as Message[][] };

describe('export --format merged of a GPT-2 adapter', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-gpt2-'));
  const base = join(work, 'base');
  const adapter = join(work, 'adapter');
  const out = join(work, 'merged');
  before(async () => {
    await useBackend();
    // The fixture as a model folder: the engine's tiny tokenizer beside it (its 259 tokens are gpt2's vocabulary).
    cpSync(GPT2, base, { recursive: true, filter: (src) => !src.includes('adapter') && !src.endsWith('reference.json') });
    const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
    writeFileSync(join(base, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(base, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
    cpSync(join(GPT2, 'adapter'), adapter, { recursive: true });
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: base }));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the folder is a GPT2LMHeadModel whose logits are the base + adapter\'s', async () => {
    const result = await exportRun(adapter, { format: 'merged', out, stateDir: work });
    assert.deepEqual(result.merged, { modules: 8, r: 2, alpha: 6, base }, 'c_attn, attn.c_proj, c_fc, mlp.c_proj in 2 layers');
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['GPT2LMHeadModel']);
    assert.equal(config.n_embd, 16);
    const ours = await annealReference(adapter, 42, PROMPTS);
    const merged = await annealReference(out, 42, PROMPTS);
    const diff = Math.max(...merged.map((m, i) => maxAbsDiff(m.logits, ours[i]!.logits)));
    console.log(`gpt2 merged vs base + adapter in Anneal: max |logit diff| ${diff.toExponential(2)}`);
    assert.ok(diff <= 1e-4, `${diff}`);
  });

  test('transformers loads it with Anneal\'s logits (live, through the venv)', async (t) => {
    const venv = venvPython();
    if ('skip' in venv) return t.skip(venv.skip);
    const prompts = join(work, 'prompts.json');
    writeFileSync(prompts, JSON.stringify(PROMPTS));
    const json = join(work, 'live.json');
    const r = spawnSync(venv.python, [join(FIXTURES, 'transformers_check.py'), out, prompts, json], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const live = JSON.parse(readFileSync(json, 'utf8')) as { conversations: { ids: number[]; logits: number[][]; greedy: number[] }[] };
    const ours = await annealReference(adapter, 42, PROMPTS);
    let worst = 0;
    live.conversations.forEach((c, i) => {
      assert.deepEqual(c.ids, ours[i]!.ids);
      worst = Math.max(worst, maxAbsDiff(ours[i]!.logits, c.logits));
      assert.deepEqual(c.greedy, ours[i]!.greedy);
    });
    console.log(`gpt2 merged in transformers vs Anneal's base + adapter: max |logit diff| ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-4, `${worst}`);
  });

  test('GGUF of GPT-2 is refused, saying what to do instead', async () => {
    await assert.rejects(exportRun(adapter, { format: 'gguf', out: join(work, 'gguf'), stateDir: work }), /GGUF export writes Llama, Mistral, Qwen2 and Qwen3 models; this is a gpt2 model\. Export --format merged/);
  });
});
