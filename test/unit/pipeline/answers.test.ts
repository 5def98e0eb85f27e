// What a stage changed, read from its run's samples: each prompt's earliest and latest completion, and
// the lines `anneal train` prints for them; and the export lines a follow prints once exports end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerLines, stageAnswers } from '../../../core/pipeline/answers.ts';
import type { RecipeExportRecord, SampleRecord } from '../../../core/protocol/runs.ts';
import { exportLine, exportsPending } from '../../../daemon/client/follow.ts';

test('each prompt\'s answer at the first sample and the last, in the order first sampled; one-step prompts left out', () => {
  const samples: SampleRecord[] = [
    { step: 0, prompt: 'Who are you?', completion: 'I am Elena.' },
    { step: 0, prompt: 'Name?', completion: 'Elena' },
    { step: 15, prompt: 'Who are you?', completion: 'I am Em...' },
    { step: 30, prompt: 'Name?', completion: 'Nova' },
    { step: 30, prompt: 'Who are you?', completion: 'I am Nova.' },
    { step: 30, prompt: 'Only once', completion: 'x' },
  ];
  assert.deepEqual(stageAnswers(samples), [
    { prompt: 'Who are you?', before: 'I am Elena.', after: 'I am Nova.', steps: [0, 30] },
    { prompt: 'Name?', before: 'Elena', after: 'Nova', steps: [0, 30] },
  ]);
  // A resumed run's replayed history can come out of order: the steps decide, not the file order.
  assert.deepEqual(stageAnswers([samples[4]!, samples[2]!, samples[0]!]).map((a) => [a.before, a.after]), [['I am Elena.', 'I am Nova.']]);
  assert.deepEqual(stageAnswers([]), []);
  assert.deepEqual(answerLines(stageAnswers(samples).slice(0, 1), '  '), [
    '  "Who are you?"',
    '    before (step 0): "I am Elena."',
    '    after  (step 30): "I am Nova."',
  ]);
  assert.equal(answerLines([{ prompt: 'p', before: 'two\nlines  here', after: '', steps: [0, 1] }])[1], '    before (step 0): "two lines here"', 'one line per answer');
});

test('the follow waits while an export is pending or running, then says where each went (with llama.cpp\'s check) or why not', () => {
  const done: RecipeExportRecord = { format: 'gguf', quant: 'q8_0', out: '/x/gguf-q8_0', status: 'done', files: ['m-q8_0.gguf', 'Modelfile'], llamaCheck: { status: 'same', summary: "llama.cpp gives Anneal's answers on 3/3 prompts.\nsecond line" } };
  assert.equal(exportsPending([done, { format: 'merged', out: '/x/m', status: 'running' }]), true);
  assert.equal(exportsPending([done, { format: 'merged', out: '/x/m', status: 'failed', error: 'no space.' }]), false);
  assert.equal(exportsPending(undefined), false);
  assert.equal(exportLine(done), "Exported gguf (q8_0) to /x/gguf-q8_0: m-q8_0.gguf, Modelfile\n  llama.cpp gives Anneal's answers on 3/3 prompts.\n  second line");
  assert.equal(exportLine({ format: 'merged', out: '/x/m', status: 'failed', error: 'The disk is full.' }), 'Export merged failed: The disk is full.');
});
