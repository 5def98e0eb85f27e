// What the recipe CodeLens says, and what "Anneal: Export Run…" offers and says: the formats and
// quantizations read from core/recipe/exportBlock.ts, the target of a pipeline's result, the
// `ollama create` command.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { RECIPE_EXPORT_FORMATS, quantsOf } from '../../../core/recipe/exportBlock.ts';
import { pipelineStageNames, recipeLens } from '../../../extension/client/codeLensTitle.ts';
import {
  exportDoneMessage,
  formatChoices,
  ollamaCreateCommand,
  ollamaModelName,
  pipelineResultTarget,
  quantChoices,
  takesQuant,
} from '../../../extension/client/export/exportChoices.ts';

const repoRoot = resolve(import.meta.dirname, '../../..');

test('the recipe CodeLens names a pipeline\'s stages; a single-stage recipe keeps "Run"', () => {
  const example = readFileSync(join(repoRoot, 'examples/pipeline.anneal.yaml'), 'utf8');
  assert.equal(recipeLens(example).title, '$(play) Run pipeline (sft → dpo)');
  assert.match(recipeLens(example).tooltip, /these 2 stages in order/);
  assert.equal(recipeLens(readFileSync(join(repoRoot, 'examples/sft.anneal.yaml'), 'utf8')).title, '$(play) Run');
  // Unnamed repeats are numbered as the daemon names them; a name wins.
  assert.deepEqual(pipelineStageNames('stages:\n  - {stage: sft}\n  - {stage: dpo}\n  - {stage: dpo}\n  - {stage: grpo, name: polish}\n'), ['sft', 'dpo', 'dpo-2', 'polish']);
  // Mid-edit: still a pipeline, or plain text that does not parse.
  assert.equal(recipeLens('stages: []\n').title, '$(play) Run pipeline');
  assert.equal(recipeLens('stages: [\n').title, '$(play) Run');
});

test('export formats and quantizations come from the recipe export block\'s lists', () => {
  assert.deepEqual(formatChoices({ lora: true }).map((c) => c.format), [...RECIPE_EXPORT_FORMATS]);
  assert.ok(formatChoices({ lora: true }).every((c) => c.detail.length > 20), 'every format says what it writes');
  // A full fine-tune has no adapter to export, as PEFT or as a GGUF adapter.
  assert.deepEqual(formatChoices({ lora: false }).map((c) => c.format), RECIPE_EXPORT_FORMATS.filter((f) => f !== 'peft' && !f.includes('lora')));
  assert.deepEqual(quantChoices('gguf').map((q) => q.quant).sort(), [...quantsOf('gguf')].sort());
  assert.ok(quantChoices('gguf').some((q) => q.quant === 'q8_0'));
  assert.equal(quantChoices('gguf')[0]!.quant, 'f16', 'the exporter\'s default first');
  assert.match(quantChoices('gguf')[0]!.description, /\(default\)$/);
  assert.ok(quantChoices('gguf').every((q) => q.description.length > 0), 'every quantization is explained');
  assert.ok(takesQuant('gguf') && !takesQuant('merged') && !takesQuant('peft'));
  assert.deepEqual(quantChoices('merged'), []);
});

test('a pipeline\'s result exports its stage\'s run; the GGUF message and the ollama command', () => {
  const info = {
    id: 'pipeline-1', result: { stage: 'dpo', output: '/s/runs/dpo-b/output' },
    stages: [{ name: 'sft', runId: 'sft-a' }, { name: 'dpo', runId: 'dpo-b' }],
  } as unknown as PipelineInfo;
  const runs = [{ id: 'dpo-b', lora: { r: 8 } }] as unknown as RunInfo[];
  assert.deepEqual(pipelineResultTarget(info, runs), { run: 'dpo-b', label: 'the result of pipeline pipeline-1 (dpo)', lora: true });
  assert.equal(pipelineResultTarget({ ...info, result: undefined }, runs), undefined);
  // A result whose run is gone: the output folder itself.
  assert.equal(pipelineResultTarget({ ...info, stages: [] }, runs)?.run, '/s/runs/dpo-b/output');

  const result = { format: 'gguf' as const, quant: 'q8_0', outDir: '/home/u/my runs/exports/gguf-q8_0', files: ['dpo-b-q8_0.gguf', 'Modelfile'], gguf: '/home/u/my runs/exports/gguf-q8_0/dpo-b-q8_0.gguf', source: 'run dpo-b', runId: 'dpo-b', notes: [] };
  assert.equal(ollamaModelName(result), 'dpo-b-q8_0');
  assert.equal(ollamaCreateCommand(result), "cd '/home/u/my runs/exports/gguf-q8_0' && ollama create dpo-b-q8_0 -f Modelfile");
  assert.equal(exportDoneMessage({ label: 'DPO run dpo-b' }, result), 'Anneal: exported DPO run dpo-b as GGUF q8_0 to /home/u/my runs/exports/gguf-q8_0/dpo-b-q8_0.gguf.');
  assert.equal(ollamaModelName({ outDir: '/x/Weird Name!', runId: undefined, gguf: undefined }), 'weird-name');
});
