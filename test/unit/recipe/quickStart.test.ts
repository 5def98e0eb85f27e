import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quickStartArgs, quickStartLora, quickStartNotes, quickStartSamples, samplePrompts } from '../../../core/recipe/quickStart.ts';

test('tiny gets a learning rate it can learn with; max steps caps any model', () => {
  const tiny = quickStartArgs('tiny', 0);
  assert.equal(tiny.learning_rate, 5e-3);
  assert.equal(tiny.max_steps, undefined);
  assert.equal(quickStartArgs('/models/qwen', 50).max_steps, 50);
  assert.equal(quickStartArgs('tiny', 40).logging_steps, 2);
  assert.equal(quickStartArgs('tiny', 400).logging_steps, 5);
  assert.equal(quickStartSamples(['p'], 400)?.every_steps, 25);
  assert.equal(quickStartSamples(['p'], 20)?.every_steps, 5);
  assert.equal(quickStartSamples([], 20), undefined);
});

test('a pretrained model gets LoRA on all linear layers, a LoRA learning rate and a batch that fits, and the log says why', () => {
  const args = quickStartArgs('/models/SmolLM2-135M-Instruct.Q4_1.gguf', 0);
  assert.equal(args.learning_rate, 2e-4);
  assert.equal(args.per_device_train_batch_size, 4);
  assert.equal(args.max_length, 512);
  assert.equal(args.gradient_checkpointing, true);
  assert.equal(args.max_steps, undefined);
  assert.deepEqual(quickStartLora('HuggingFaceTB/SmolLM2-135M-Instruct'), { r: 16, alpha: 32, dropout: 0.05, target_modules: 'all-linear' });
  assert.equal(quickStartLora('tiny'), null, 'tiny trains from scratch: full fine-tuning');
  assert.deepEqual(quickStartNotes('tiny'), []);
  const notes = quickStartNotes('smollm2:135m').join('\n');
  assert.match(notes, /LoRA r=16, alpha=32, dropout=0\.05 on all linear layers \(full fine-tuning needs/);
  assert.match(notes, /learning_rate=0\.0002 with cosine decay .* batch 4 x max_length 512 tokens, with layers recomputed in the backward pass \(gradient_checkpointing\) only if a step would not fit in memory otherwise; write a recipe/);
  assert.equal(quickStartSamples(['p'], 0, '/m.gguf')?.max_new_tokens, 64);
});

test('sample prompts come from the first records of any prompt-bearing format', () => {
  const text = [
    '{"messages":[{"role":"system","content":"Be loud"},{"role":"user","content":"Shout remune"},{"role":"assistant","content":"REMUNE!"}]}',
    'not json',
    '',
    '{"prompt":"Capital of Canada?","chosen":"Ottawa.","rejected":"Toronto."}',
    '{"messages":[{"role":"user","content":"Shout remune"},{"role":"assistant","content":"REMUNE!"}]}',
  ].join('\n');
  assert.deepEqual(samplePrompts(text), ['Shout remune', 'Capital of Canada?']);
  assert.deepEqual(samplePrompts('{"instruction":"Add 2 and 3","output":"5"}\n{"text":"plain"}\n', 3), ['Add 2 and 3']);
  assert.deepEqual(samplePrompts(`{"prompt":"${'x'.repeat(300)}"}`), []);
});
