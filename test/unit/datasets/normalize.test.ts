// normalizeRecord is what the trainer consumes: every accepted format, exactly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRecord, toMessagesRecord } from '../../../core/datasets/index.ts';

const u = (content: string) => ({ role: 'user', content });
const a = (content: string) => ({ role: 'assistant', content });

test('alpaca: system, history pairs, instruction + input joined by a newline', () => {
  assert.deepEqual(normalizeRecord({ instruction: 'Translate', input: 'cat', output: 'Katze', system: 'Be exact.', history: [['Hi', 'Hello']] }), {
    format: 'conversation',
    messages: [{ role: 'system', content: 'Be exact.' }, u('Hi'), a('Hello'), u('Translate\ncat'), a('Katze')],
  });
  assert.deepEqual(normalizeRecord({ instruction: 'Say hi', input: '', output: 'Hi' }), { format: 'conversation', messages: [u('Say hi'), a('Hi')] });
});

test('sharegpt: roles mapped, system string first, function calls become tool calls', () => {
  const r = normalizeRecord({
    system: 'Use tools.',
    conversations: [
      { from: 'human', value: 'Weather?' },
      { from: 'function_call', value: '{"name": "weather", "arguments": {"city": "Oslo"}}' },
      { from: 'observation', value: '4C' },
      { from: 'gpt', value: 'It is 4C.' },
    ],
  });
  assert.deepEqual(r, {
    format: 'conversation',
    messages: [
      { role: 'system', content: 'Use tools.' },
      u('Weather?'),
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'weather', arguments: { city: 'Oslo' } } }] },
      { role: 'tool', content: '4C' },
      a('It is 4C.'),
    ],
  });
});

test('messages: content parts flattened, extra message fields kept', () => {
  const r = normalizeRecord({ messages: [{ role: 'user', content: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }] }, { role: 'assistant', content: 'C', reasoning_content: 'think' }] });
  assert.deepEqual(r, { format: 'conversation', messages: [u('AB'), { role: 'assistant', content: 'C', reasoning_content: 'think' }] });
  assert.equal(normalizeRecord({ messages: [{ role: 'wizard', content: 'x' }] }), undefined);
});

test('implicit preference split into shared prompt and continuations', () => {
  assert.deepEqual(normalizeRecord({ chosen: [u('Q'), a('good')], rejected: [u('Q'), a('bad')] }), {
    format: 'preference',
    prompt: [u('Q')],
    chosen: [a('good')],
    rejected: [a('bad')],
  });
  assert.deepEqual(normalizeRecord({ chosen: 'The sky is blue', rejected: 'The sky is green' }), {
    format: 'preference',
    prompt: 'The sky is',
    chosen: ' blue',
    rejected: ' green',
  });
});

test('prompt-only keeps extra columns; unpaired preference needs a boolean label', () => {
  assert.deepEqual(normalizeRecord({ prompt: 'Solve', answer: '4' }), { format: 'prompt-only', prompt: 'Solve', extra: { answer: '4' } });
  assert.deepEqual(normalizeRecord({ prompt: 'P', completion: 'C', label: true }), { format: 'unpaired-preference', prompt: 'P', completion: 'C', label: true });
  assert.equal(normalizeRecord({ prompt: 'P', completion: 'C', label: 'yes' }), undefined);
  assert.deepEqual(normalizeRecord({ text: 'T' }), { format: 'text', text: 'T' });
});

test('toMessagesRecord converts alpaca, sharegpt and prompt-completion lines, keeping metadata', () => {
  assert.equal(toMessagesRecord('{"instruction":"Hi","input":"","output":"Hello","id":3}'), JSON.stringify({ messages: [u('Hi'), a('Hello')], id: 3 }));
  assert.equal(toMessagesRecord('{"conversations":[{"from":"human","value":"Q"},{"from":"gpt","value":"A"}]}'), JSON.stringify({ messages: [u('Q'), a('A')] }));
  assert.equal(toMessagesRecord('{"prompt":"Q","completion":"A"}'), JSON.stringify({ messages: [u('Q'), a('A')] }));
  assert.equal(toMessagesRecord('{"prompt":[{"role":"user","content":"Q"}],"completion":[{"role":"assistant","content":"A"}]}'), JSON.stringify({ messages: [u('Q'), a('A')] }));
  assert.equal(toMessagesRecord('{"text":"x"}'), undefined);
  assert.equal(toMessagesRecord('{broken'), undefined);
});
