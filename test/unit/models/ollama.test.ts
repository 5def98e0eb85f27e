// Ollama names resolve through the local store's manifests to the GGUF blob; names that are Hub ids or
// paths are left alone, and a missing model, blob or an adapter model says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNamedModel } from '../../../core/modelRef.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { ollamaStoreDir, parseOllamaRef, resolveOllamaModel } from '../../../core/ollamaStore.ts';

test('Ollama names need a tag or the ollama: prefix, so Hub ids and paths keep their meaning', () => {
  assert.deepEqual(parseOllamaRef('smollm2:135m'), { name: 'smollm2:135m', registry: 'registry.ollama.ai', namespace: 'library', model: 'smollm2', tag: '135m' });
  assert.deepEqual(parseOllamaRef('ollama:smollm2'), { name: 'ollama:smollm2', registry: 'registry.ollama.ai', namespace: 'library', model: 'smollm2', tag: 'latest' });
  assert.equal(parseOllamaRef('user/model:q4')?.namespace, 'user');
  assert.equal(parseOllamaRef('hf.co/org/model:Q4_K_M')?.registry, 'hf.co');
  assert.equal(parseOllamaRef('HuggingFaceTB/SmolLM2-135M-Instruct'), undefined);
  assert.equal(parseOllamaRef('/models/x.gguf'), undefined);
  assert.equal(parseOllamaRef('tiny'), undefined);
  assert.equal(ollamaStoreDir({ OLLAMA_MODELS: '/srv/ollama' }, '/home/u'), '/srv/ollama');
  assert.equal(ollamaStoreDir({}, '/home/u'), '/home/u/.ollama/models');
  assert.ok(isNamedModel('smollm2:135m', nodeFiles) && isNamedModel('org/name', nodeFiles) && isNamedModel('tiny', nodeFiles));
  assert.ok(!isNamedModel('examples', nodeFiles), 'an existing path stays a path');
});

test('a pulled model resolves to its GGUF blob; missing pieces and adapters are clear errors', (t) => {
  const store = mkdtempSync(join(tmpdir(), 'anneal-ollama-'));
  t.after(() => rmSync(store, { recursive: true, force: true }));
  const manifest = (name: string, tag: string, layers: unknown[]) => {
    const dir = join(store, 'manifests', 'registry.ollama.ai', 'library', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, tag), JSON.stringify({ schemaVersion: 2, layers }));
  };
  const digest = 'c'.repeat(64);
  mkdirSync(join(store, 'blobs'));
  writeFileSync(join(store, 'blobs', `sha256-${digest}`), 'GGUF');
  manifest('smollm2', '135m', [
    { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` },
    { mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${'d'.repeat(64)}` },
  ]);
  assert.equal(resolveOllamaModel(parseOllamaRef('smollm2:135m')!, store, nodeFiles), join(store, 'blobs', `sha256-${digest}`));
  assert.throws(() => resolveOllamaModel(parseOllamaRef('smollm2:1.7b')!, store, nodeFiles), /not in the Ollama store .*; run `ollama pull smollm2:1\.7b`/);
  manifest('gone', 'latest', [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'e'.repeat(64)}` }]);
  assert.throws(() => resolveOllamaModel(parseOllamaRef('ollama:gone')!, store, nodeFiles), /blob .* is missing; pull the model again/);
  manifest('tuned', 'latest', [
    { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` },
    { mediaType: 'application/vnd.ollama.image.adapter', digest: `sha256:${digest}` },
  ]);
  assert.throws(() => resolveOllamaModel(parseOllamaRef('tuned:latest')!, store, nodeFiles), /base model plus an adapter/);
});
