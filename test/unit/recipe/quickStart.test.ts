import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quickStartArgs, quickStartSamples, samplePrompts } from '../../../core/recipe/quickStart.ts';

test('tiny gets a learning rate it can learn with; max steps caps any model', () => {
  const tiny = quickStartArgs('tiny', 0);
  assert.equal(tiny.learning_rate, 5e-3);
  assert.equal(tiny.max_steps, undefined);
  assert.deepEqual(quickStartArgs('/models/qwen', 0), {});
  assert.deepEqual(quickStartArgs('/models/qwen', 50), { max_steps: 50 });
  assert.equal(quickStartArgs('tiny', 40).logging_steps, 2);
  assert.equal(quickStartArgs('tiny', 400).logging_steps, 5);
  assert.equal(quickStartSamples(['p'], 400)?.every_steps, 25);
  assert.equal(quickStartSamples(['p'], 20)?.every_steps, 5);
  assert.equal(quickStartSamples([], 20), undefined);
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
