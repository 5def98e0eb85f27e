// Findings that real files showed missing or wrong: near duplicates driven by a shared system prompt,
// duplicates of records that also have errors, a runaway message checked without a model, and a
// conversation with no user turn.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byCode, check, covered, summary } from './helpers.ts';

const J = JSON.stringify;
const SYSTEM =
  'You are a helpful assistant with access to the following functions. Use them if required. Always answer in English, ' +
  'never invent function results, ask the user for missing arguments, keep answers short and friendly, and call at most ' +
  'one function per turn unless the user asks for several things at once. Functions: get_weather(city), get_time(zone), ' +
  'convert_currency(amount, from, to), search_flights(origin, destination, date), book_table(restaurant, people, time).';

function toolChat(user: string, name: string, args: Record<string, unknown>, result: string, answer: string): string {
  return J({
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: user },
      { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name, arguments: J(args) } }] },
      { role: 'tool', content: result },
      { role: 'assistant', content: answer },
    ],
  });
}

test('two different tool-calling conversations sharing a long system prompt are not near duplicates', () => {
  const a = toolChat('What is the weather in Oslo right now?', 'get_weather', { city: 'Oslo' }, '{"temp": 12}', 'It is 12 degrees in Oslo.');
  const b = toolChat('Convert 40 euros to yen please.', 'convert_currency', { amount: 40, from: 'EUR', to: 'JPY' }, '{"value": 6480}', '40 euros is about 6,480 yen.');
  assert.deepEqual(summary(check([a, b])), []);
});

test('conversations that differ by a word are still near duplicates with the shared system prompt left out', () => {
  const long = 'Later that morning the farmer feeds the chickens, repairs a broken fence near the barn and walks to the village market to sell eggs and honey';
  const a = J({ messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `Tell me a story. ${long}.` }, { role: 'assistant', content: `${long}, then rests.` }] });
  const b = J({ messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `Tell me a story. ${long}.` }, { role: 'assistant', content: `${long}, then sleeps.` }] });
  assert.deepEqual(summary(check([a, b])), ['1:near-duplicate']);
});

test('copies of a record with a format error are still reported as duplicates', () => {
  const bad = J({ messages: [{ role: 'user', content: 'Hi' }, { role: 'asistant', content: 'Hello' }] });
  const other = J({ messages: [{ role: 'user', content: 'Yo' }, { role: 'asistant', content: 'Hey' }] });
  const r = check([bad, other, bad]);
  assert.deepEqual(summary(r), ['0:role-typo', '1:role-typo', '2:role-typo', '2:duplicate-record']);
  assert.equal(byCode(r, 'duplicate-record')[0].related?.[0].range.start.line, 0);
  assert.equal(r.summary.chars.max, 0, 'records with errors stay out of the length statistics');
});

test('a 26,000-character message checked without a model: too-long-chars on that message', () => {
  const huge = 'word '.repeat(5200);
  const line = J({ messages: [{ role: 'user', content: 'Summarise this.' }, { role: 'assistant', content: huge }] });
  const r = check([line]);
  assert.deepEqual(summary(r), ['0:too-long-chars']);
  assert.equal(covered(line, r.diagnostics[0]), J(huge));
  assert.match(r.diagnostics[0].message, /26,015 characters/);
  // With the recipe's max_length the budget is 4 characters per token of it.
  assert.deepEqual(summary(check([J({ text: 'x'.repeat(500) })], { maxLength: 100 })), ['0:too-long-chars']);
  assert.deepEqual(summary(check([J({ text: 'x'.repeat(400) })], { maxLength: 100 })), []);
});

test('a conversation with no user turn is a warning (messages and ShareGPT)', () => {
  const msgs = J({ messages: [{ role: 'system', content: 'You write poems.' }, { role: 'assistant', content: 'Roses are red.' }] });
  const share = J({ conversations: [{ from: 'system', value: 'You write poems.' }, { from: 'gpt', value: 'Violets are blue.' }] });
  const r = check([msgs, share]);
  assert.deepEqual(summary(r), ['0:no-user', '1:no-user', '1:mixed-formats']);
  assert.equal(covered([msgs, share].join('\n'), r.diagnostics[0]), '"messages"');
});
