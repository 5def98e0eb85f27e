// What `anneal export` refuses, each before any weights load and in one sentence that says what to do:
// an adapter asked of a full fine-tune, a reward model as a language model, an --out that is a file or
// the weights themselves, a folder with no weights, --quant without gguf. (Runs without weights, unknown
// runs, unsupported quantizations and non-empty folders: test/integration/export.)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exportRun } from '../../../daemon/export/exportRun.ts';
import { TINY_LORA } from './reference.ts';

const FULL = join(import.meta.dirname, '../../fixtures/engine/llama_tiny');
const REWARD = join(import.meta.dirname, '../../fixtures/trl/anneal-reward-lora');

describe('export refusals', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-refusals-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  const opts = (format: string, extra: Record<string, string> = {}) => ({ format, stateDir: work, out: join(work, 'out'), ...extra });

  test('peft of a full fine-tune', async () => {
    await assert.rejects(exportRun(FULL, opts('peft')), /trained the whole model, so there is no LoRA adapter to export; use --format merged/);
  });

  test('a reward model is not a language model', async () => {
    await assert.rejects(exportRun(REWARD, opts('gguf')), /is a reward model \(a sequence classifier with a score head\); a GGUF export exports a language model\. Export it with --format peft/);
    await assert.rejects(exportRun(REWARD, opts('gguf-lora')), /is a reward model's adapter \(with a score head\); llama\.cpp applies adapters to language models\. Export it with --format peft/);
  });

  test('--out that is a file, or the weights being exported', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(exportRun(TINY_LORA, opts('merged', { out: file })), /--out .*a-file exists and is a file; name a new or empty folder/);
    await assert.rejects(exportRun(TINY_LORA, opts('merged', { out: join(TINY_LORA, '..') })), /already exists and is not empty|would overwrite the weights/);
  });

  test('a folder without weights, and --quant without gguf', async () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    await assert.rejects(exportRun(empty, opts('merged')), /holds no weights to export: it has neither adapter_config\.json \(a PEFT adapter\) nor config\.json with model\.safetensors/);
    await assert.rejects(exportRun(TINY_LORA, opts('peft', { quant: 'q8_0' })), /--quant applies to --format gguf and gguf-lora only/);
    assert.ok(!readdirSync(work).includes('out'), 'nothing was written');
  });
});
