// Every per-record rule on small inputs: it fires where it should (with the exact range for a few)
// and stays silent on the valid counterpart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byCode, chat, check, covered, msg, summary } from './helpers.ts';

const J = JSON.stringify;

test('valid records of every format produce no diagnostics', () => {
  const files: string[][] = [
    [chat(['system', 'Be brief.'], ['user', 'Hi'], ['assistant', 'Hello.'])],
    [J({ prompt: 'Capital of Peru?', completion: 'Lima.' })],
    [J({ prompt: [msg('user', 'Capital of Peru?')], completion: [msg('assistant', 'Lima.')] })],
    [J({ instruction: 'Sum these', input: '2 and 3', output: '5', history: [['hi', 'hello']] })],
    [J({ conversations: [{ from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello' }], system: 'Be kind.' })],
    [J({ prompt: 'Pick a color', chosen: 'Blue.', rejected: 'I refuse.' })],
    [J({ chosen: [msg('user', 'Q'), msg('assistant', 'Good')], rejected: [msg('user', 'Q'), msg('assistant', 'Bad')] })],
    [J({ prompt: 'Solve 2+2', answer: '4' })],
    [J({ prompt: 'Tell a joke', completion: 'No.', label: false })],
    [J({ text: 'Plain pretraining text.' })],
  ];
  for (const lines of files) assert.deepEqual(summary(check(lines)), [], lines[0]);
});

test('OpenAI content parts, tool calls and tool turns are real data, not errors', () => {
  const line = J({
    messages: [
      msg('user', [{ type: 'text', text: 'Weather in Oslo?' }]),
      msg('assistant', null, { tool_calls: [{ type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] }),
      msg('tool', '4 degrees', { tool_call_id: 'c1' }),
      msg('assistant', 'It is 4 degrees in Oslo.'),
    ],
  });
  const r = check([line]);
  assert.deepEqual(summary(r), []);
  const n = r.records[0].normalized;
  assert.equal(n?.format, 'conversation');
  assert.equal(n?.format === 'conversation' && n.messages[0].content, 'Weather in Oslo?');
});

test('role-typo points at the role value and suggests the intended role', () => {
  const line = chat(['user', 'Hi'], ['asistant', 'Hello']);
  const r = check([line]);
  const [d] = byCode(r, 'role-typo');
  assert.equal(covered(line, d), '"asistant"');
  assert.deepEqual(d.data, { expected: 'assistant' });
  assert.equal(d.severity, 'error');
  const human = byCode(check([chat(['human', 'Hi'], ['assistant', 'Yo'])]), 'role-typo');
  assert.deepEqual(human[0].data, { expected: 'user' });
});

test('unknown-role when nothing is close', () => {
  const line = chat(['user', 'Hi'], ['narrator', 'Once upon a time']);
  const [d] = byCode(check([line]), 'unknown-role');
  assert.equal(covered(line, d), '"narrator"');
});

test('missing-field, wrong-type and empty-content point at the right place', () => {
  const noContent = J({ messages: [msg('user', 'Hi'), { role: 'assistant' }] });
  const [missing] = byCode(check([noContent]), 'missing-field');
  assert.equal(covered(noContent, missing), '{"role":"assistant"}');

  const wrong = J({ messages: [msg('user', 42), msg('assistant', 'x')] });
  const [wt] = byCode(check([wrong]), 'wrong-type');
  assert.equal(covered(wrong, wt), '42');

  const empty = J({ messages: [msg('user', 'Hi'), msg('assistant', '  ')] });
  const [ec] = byCode(check([empty]), 'empty-content');
  assert.equal(covered(empty, ec), '"  "');

  const noOutput = J({ instruction: 'Do it' });
  assert.equal(byCode(check([noOutput]), 'missing-field')[0].data && (byCode(check([noOutput]), 'missing-field')[0].data as { field: string }).field, 'output');
  const notList = J({ messages: 'hello' });
  assert.equal(covered(notList, byCode(check([notList]), 'wrong-type')[0]), '"hello"');
});

test('conversation order rules', () => {
  const sys = chat(['user', 'Hi'], ['system', 'Be kind'], ['assistant', 'Hello']);
  assert.deepEqual(summary(check([sys])), ['0:system-not-first']);
  const twice = chat(['user', 'Hi'], ['user', 'Anyone?'], ['assistant', 'Yes']);
  const [c] = byCode(check([twice]), 'consecutive-role');
  assert.equal(covered(twice, c), '"user"');
  assert.deepEqual(summary(check([chat(['user', 'Hi'])])), ['0:no-assistant']);
  const trailing = chat(['user', 'Hi'], ['assistant', 'Hello'], ['user', 'Bye']);
  assert.deepEqual(summary(check([trailing])), ['0:not-ending-with-assistant']);
  const sg = J({ conversations: [{ from: 'human', value: 'a' }, { from: 'human', value: 'b' }, { from: 'gpt', value: 'c' }] });
  assert.deepEqual(summary(check([sg])), ['0:consecutive-role']);
  const sgTypo = J({ conversations: [{ from: 'humna', value: 'a' }, { from: 'gpt', value: 'c' }] });
  assert.deepEqual(byCode(check([sgTypo]), 'role-typo')[0].data, { expected: 'human' });
});

test('preference rules: identical pair, implicit prefix, prompt ending with assistant, style', () => {
  const same = J({ prompt: 'Q', chosen: 'Same answer', rejected: 'Same answer' });
  const [d] = byCode(check([same]), 'identical-pair');
  assert.equal(covered(same, d), '"Same answer"');
  assert.equal(d.range.start.character, same.lastIndexOf('"Same answer"'));

  const implicit = J({ chosen: [msg('user', 'Q1'), msg('assistant', 'A')], rejected: [msg('user', 'Q2'), msg('assistant', 'B')] });
  const [m] = byCode(check([implicit]), 'implicit-prefix-mismatch');
  assert.equal(covered(implicit, m), J(msg('user', 'Q2')));

  const ends = J({ prompt: [msg('user', 'Q'), msg('assistant', 'partial')], chosen: [msg('assistant', 'a')], rejected: [msg('assistant', 'b')] });
  assert.deepEqual(summary(check([ends])), ['0:prompt-ends-with-assistant']);

  const mixed = J({ prompt: 'Q', chosen: [msg('assistant', 'a')], rejected: 'b' });
  assert.ok(summary(check([mixed])).includes('0:inconsistent-style'));

  const notAssistant = J({ prompt: [msg('user', 'Q')], chosen: [msg('user', 'a')], rejected: [msg('assistant', 'b')] });
  assert.deepEqual(summary(check([notAssistant])), ['0:continuation-not-assistant']);

  const missing = J({ prompt: 'Q', chosen: 'a' });
  const [mf] = byCode(check([missing]), 'missing-field');
  assert.deepEqual(mf.data, { field: 'rejected' });
});

test('prompt-only rules: empty prompt and reward columns', () => {
  const empty = J({ prompt: '', answer: '4' });
  assert.deepEqual(summary(check([empty])), ['0:empty-prompt']);
  const r = check([J({ prompt: 'Solve 1+1', solution: '2' })], { requiredColumns: ['answer'] });
  assert.deepEqual(summary(r), ['0:missing-column']);
  assert.deepEqual(summary(check([J({ prompt: 'Solve 1+1', answer: '2' })], { requiredColumns: ['answer'] })), []);
});

test('unknown fields are information; common metadata is not flagged', () => {
  const line = J({ text: 'x y z', colour: 'red', id: 7 });
  const [d] = byCode(check([line]), 'unknown-field');
  assert.equal(d.severity, 'info');
  assert.equal(covered(line, d), '"colour"');
  assert.equal(check([line]).diagnostics.length, 1);
});

test('non-text content parts are warned about', () => {
  const line = J({ messages: [msg('user', [{ type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'What is this?' }]), msg('assistant', 'A cat.')] });
  assert.deepEqual(summary(check([line])), ['0:non-text-content']);
});

test('unknown-format and not-object', () => {
  const lines = [J({ foo: 1 }), '[1, 2]', ' "just a string" ', '42'];
  const r = check(lines);
  assert.deepEqual(summary(r), ['0:unknown-format', '1:not-object', '2:not-object', '3:not-object']);
  assert.equal(covered(lines.join('\n'), r.diagnostics[2]), '"just a string"');
});

test('too-long only with a token counter (else too-long-chars at 4 characters per token), and counts tokens in the summary', () => {
  const lines = [J({ text: 'a b c d e f g h' }), J({ text: 'short' })];
  const byChars = check(lines, { maxLength: 3 });
  assert.deepEqual(summary(byChars), ['0:too-long-chars']);
  assert.deepEqual(byChars.diagnostics[0].data, { chars: 15, limit: 12 });
  const countTokens = (r: { format: string; text?: string }) => (r.format === 'text' ? r.text!.split(' ').length : 0);
  const r = check(lines, { maxLength: 3, countTokens: countTokens as never });
  assert.deepEqual(summary(r), ['0:too-long']);
  assert.deepEqual(r.diagnostics[0].data, { tokens: 8, maxLength: 3 });
  assert.equal(r.summary.tokens?.max, 8);
});
