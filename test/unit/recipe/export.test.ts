// The recipe's `export:` block (core/recipe/exportBlock.ts): one entry or a list of {format, quant, out},
// checked in the editor like the rest of the recipe (on the offending key or value), resolved with
// `out` absolute; in a pipeline it sits at the top (the result's), not in a stage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RECIPE_EXPORT_QUANTS } from '../../../core/recipe/exportBlock.ts';
import { QUANT_TYPES } from '../../../daemon/export/ggufQuant.ts';
import { check, codes, fixtureDir, only, sft, span } from './helpers.ts';

test('a valid export block resolves, `out` relative to the recipe', () => {
  const r = check(sft('export:\n  - {format: merged}\n  - {format: gguf, quant: q8_0, out: dist/q8}\n  - format: peft\n'));
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.recipe?.exports, [{ format: 'merged' }, { format: 'gguf', quant: 'q8_0', out: join(fixtureDir, 'dist/q8') }, { format: 'peft' }]);
});

test('one entry may be written without the list', () => {
  const r = check(sft('export: {format: gguf}\n'));
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.recipe?.exports, [{ format: 'gguf' }]);
});

test('an unknown format is an error on its value', () => {
  const d = only(check(sft('export:\n  - {format: onnx}\n')), 'recipe-export-invalid');
  assert.equal(d.severity, 'error');
  assert.match(d.message, /`onnx` is not an export format; choose peft .*merged .*gguf/);
  assert.deepEqual(span(d), [5, 13, 5, 17]);
});

test('quant is for gguf only, and must be one Anneal writes', () => {
  const merged = only(check(sft('export:\n  - {format: merged, quant: q8_0}\n')), 'recipe-export-invalid');
  assert.match(merged.message, /`quant` applies to format gguf only/);
  assert.deepEqual(span(merged), [5, 21, 5, 26], 'on the key');
  const unknown = only(check(sft('export: {format: gguf, quant: q3_k_m}\n')), 'recipe-export-invalid');
  assert.match(unknown.message, /`q3_k_m` is not a GGUF quantization .*f32, f16, bf16, q8_0, .*q4_k_m/);
  assert.deepEqual(span(unknown), [4, 30, 4, 36]);
  assert.deepEqual(check(sft('export: [{format: gguf, quant: q4_k_m}, {format: gguf-lora, quant: f32}]\n')).diagnostics, []);
  assert.match(only(check(sft('export: {format: gguf-lora, quant: q8_0}\n')), 'recipe-export-invalid').message, /`q8_0` is not an encoding of a GGUF adapter; choose f16, f32/);
});

test('missing format, unknown key, empty list, entries that are no mapping, two default folders alike', () => {
  assert.match(only(check(sft('export:\n  - {quant: f16}\n')), 'recipe-export-invalid').message, /Add `format:`/);
  const key = check(sft('export:\n  - {format: peft, path: x}\n'));
  assert.match(only(key, 'recipe-export-invalid').message, /Unknown key `path` in an export/);
  assert.deepEqual(codes(check(sft('export: []\n'))), ['recipe-export-invalid']);
  assert.deepEqual(codes(check(sft('export: [gguf]\n'))), ['recipe-export-invalid']);
  assert.match(only(check(sft('export: [{format: gguf}, {format: gguf, quant: f16}]\n')), 'recipe-export-invalid').message, /same folder .*exports\/gguf-f16/);
  assert.deepEqual(check(sft('export: [{format: gguf}, {format: gguf, quant: f16, out: b}]\n')).diagnostics, []);
  for (const bad of ['export: [{format: gguf}]\nlr: 1\n', 'export: [{format: merged, quant: f16}]\n']) assert.equal(check(sft(bad)).recipe, undefined);
});

test('the quantizations the recipe accepts are the ones the exporter writes', () => {
  assert.deepEqual([...RECIPE_EXPORT_QUANTS], QUANT_TYPES.map((q) => q.name));
});

const PIPELINE = `model: tiny
lora: {r: 8, alpha: 16}
export:
  - {format: merged, out: out/merged}
stages:
  - stage: sft
    data: {train: chat.jsonl}
  - stage: dpo
    data: {train: preference.jsonl}
`;

test('a pipeline\'s export is its own (the result\'s), not each stage\'s', () => {
  const r = check(PIPELINE);
  assert.deepEqual(r.diagnostics, []);
  assert.deepEqual(r.pipelineExports, [{ format: 'merged', out: join(fixtureDir, 'out/merged') }]);
  for (const s of r.pipeline!) assert.equal(s.recipe.exports, undefined, s.name);
});

test('a pipeline\'s bad export is reported once, at the top; an export inside a stage is refused', () => {
  const bad = check(PIPELINE.replace('format: merged', 'format: ggml'));
  const d = only(bad, 'recipe-export-invalid');
  assert.equal(d.range.start.line, 3);
  assert.equal(bad.pipeline, undefined);
  const inStage = check(PIPELINE.replace('    data: {train: chat.jsonl}\n', '    data: {train: chat.jsonl}\n    export: {format: gguf}\n'));
  assert.match(only(inStage, 'recipe-pipeline-invalid').message, /`export` applies to the pipeline's result: move it to the top level/);
});
