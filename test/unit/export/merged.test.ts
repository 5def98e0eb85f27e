// `anneal export --format merged` on a LoRA run of the built-in tiny model (test/fixtures/export/
// tiny-lora, trained by make_tiny_lora.mts): the folder loads in transformers and its logits equal
// Anneal's (the base with the adapter applied, unmerged, as in training) on fixed chat prompts.
// Two checks: against transformers_tiny.json (what transformers computed on this very export,
// recorded by make_merged_golden.mts; the export must be byte-identical, so its sha256 is compared),
// and live through transformers_check.py when the project's Python venv exists.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { useBackend } from '../engine/helpers.ts';
import { annealReference, FIXTURES, maxAbsDiff, TINY_LORA, venvPython, type Reference } from './reference.ts';

interface TransformersRecord {
  transformers_version: string;
  safetensors_sha256: string;
  conversations: { text: string; ids: number[]; logits: number[][]; greedy: number[] }[];
}

/** Tolerance for fp32 logits computed two ways (merged weights vs base + adapter; tfjs vs torch). */
const LOGIT_TOL = 1e-4;

function compare(label: string, ours: Reference[], theirs: TransformersRecord): number {
  let worst = 0;
  theirs.conversations.forEach((c, i) => {
    const a = ours[i]!;
    assert.equal(c.text, a.text, `${label}, conversation ${i}: the chat template renders differently`);
    assert.deepEqual(c.ids, a.ids, `${label}, conversation ${i}: the tokenizer gives other ids`);
    const diff = maxAbsDiff(a.logits, c.logits);
    worst = Math.max(worst, diff);
    assert.ok(diff <= LOGIT_TOL, `${label}, conversation ${i}: logits differ by ${diff}`);
    assert.deepEqual(c.greedy, a.greedy, `${label}, conversation ${i}: greedy tokens differ`);
  });
  return worst;
}

describe('export --format merged', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-merged-'));
  const out = join(work, 'merged');
  let reference: Reference[];
  before(async () => {
    await useBackend();
    reference = await annealReference(TINY_LORA, 42);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('writes a Hugging Face folder: safetensors, config, tokenizer, chat template', async () => {
    const result = await exportRun(TINY_LORA, { format: 'merged', out, stateDir: work });
    assert.equal(result.outDir, out);
    assert.deepEqual(readdirSync(out).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    assert.deepEqual(result.files, readdirSync(out).sort());
    assert.deepEqual(result.merged, { modules: 28, r: 8, alpha: 16, base: 'tiny' });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['LlamaForCausalLM']);
    assert.equal(config.tie_word_embeddings, true);
    assert.equal(config.quantization_config, undefined);
    // The tiny tokenizer's own template (ChatML) is in tokenizer_config.json; the stop token in generation_config.json.
    assert.match(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).chat_template, /im_start/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id, [258, 256], 'the ids Anneal stops at: <|im_end|>, <|endoftext|>');
  });

  test('Anneal reading the merged folder computes the logits of base + adapter', async () => {
    const merged = await annealReference(out, 42);
    const diff = Math.max(...merged.map((m, i) => maxAbsDiff(m.logits, reference[i]!.logits)));
    console.log(`merged vs base + adapter in Anneal: max |logit diff| ${diff.toExponential(2)}`);
    assert.ok(diff <= LOGIT_TOL, `merged logits differ by ${diff}`);
    merged.forEach((m, i) => assert.deepEqual(m.greedy, reference[i]!.greedy));
  });

  test('transformers on this export (recorded) gives Anneal\'s logits and greedy tokens', () => {
    const golden = JSON.parse(readFileSync(join(FIXTURES, 'transformers_tiny.json'), 'utf8')) as TransformersRecord;
    const sha = createHash('sha256').update(readFileSync(join(out, 'model.safetensors'))).digest('hex');
    assert.equal(sha, golden.safetensors_sha256, 'the export is no longer byte-identical to the one transformers_tiny.json was recorded on: rerun test/fixtures/export/make_merged_golden.mts');
    const worst = compare('recorded', reference, golden);
    console.log(`transformers ${golden.transformers_version} (recorded) vs Anneal: max |logit diff| ${worst.toExponential(2)} over ${reference.length} conversations; greedy ${reference.map((r) => r.greedy.length).join('/')} tokens equal`);
  });

  test('transformers loads the fresh export (live, through the venv)', (t) => {
    const venv = venvPython();
    if ('skip' in venv) return t.skip(venv.skip);
    const json = join(work, 'live.json');
    const r = spawnSync(venv.python, [join(FIXTURES, 'transformers_check.py'), out, join(FIXTURES, 'prompts.json'), json], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const live = JSON.parse(readFileSync(json, 'utf8')) as TransformersRecord;
    const worst = compare('live', reference, live);
    console.log(`transformers ${live.transformers_version} (live) vs Anneal: max |logit diff| ${worst.toExponential(2)}`);
  });
});
