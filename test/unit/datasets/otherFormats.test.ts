// Formats other tools write (docs/formats.md), each from a hand-written fixture in
// test/fixtures/datasets/formats/: the kind and format detected, no diagnostic when valid, what the
// trainer sees (the normalized record), and the right diagnostic at the right range when broken.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDataset, type DatasetReport } from '../../../core/datasets/index.ts';
import { tinyTokenizer } from '../../../core/tokenize/index.ts';
import { check, covered, summary } from './helpers.ts';

const dir = join(import.meta.dirname, '../../fixtures/datasets/formats');
const J = JSON.stringify;
const fixture = (name: string): DatasetReport => checkDataset(readFileSync(join(dir, name), 'utf8'));

/** The characters of the tokens that carry loss. */
function trainedText(enc: { text: string; offsets: [number, number][]; lossMask: boolean[] }): string {
  return enc.offsets.filter((_, i) => enc.lossMask[i]).map(([s, e]) => enc.text.slice(s, e)).join('');
}

/** Checks `lines` and returns `line:code` plus the text each diagnostic covers. */
function broken(lines: string[], options = {}): [string, string][] {
  const text = lines.join('\n');
  const r = check(lines, options);
  return r.diagnostics.map((d) => [`${d.range.start.line}:${d.code}`, covered(text, d)]);
}

test('each fixture is recognised as what it is and checks clean', () => {
  const expected: Record<string, [string, string]> = {
    'llamafactory_v1_sft.jsonl': ['sft', 'messages'],
    'sharegpt_ranking.jsonl': ['preference', 'sharegpt-ranking'],
    'kto_messages.jsonl': ['unpaired-preference', 'unpaired-conversation'],
    'chosen_rejected_messages.jsonl': ['preference', 'preference-messages'],
    'openai_preference.jsonl': ['preference', 'openai-preference'],
    'axolotl_dpo.jsonl': ['preference', 'axolotl-dpo'],
    'axolotl_segments.jsonl': ['sft', 'segments'],
    'openai_functions.jsonl': ['sft', 'messages'],
    'stepwise.jsonl': ['stepwise-supervision', 'stepwise'],
  };
  for (const [name, [kind, format]] of Object.entries(expected)) {
    const r = fixture(name);
    assert.deepEqual(summary(r), [], name);
    assert.equal(r.summary.kind, kind, name);
    assert.deepEqual(Object.keys(r.summary.formats), [format], name);
    assert.ok(r.records.every((rec) => rec.normalized), `${name}: every record normalises`);
  }
});

// ---- 2. LLaMA-Factory v1 content parts ----

test('v1 content parts: text joined, reasoning -> reasoning_content, tool_call -> tool_calls, loss_weight kept', () => {
  const [a, b] = fixture('llamafactory_v1_sft.jsonl').records.map((r) => r.normalized);
  assert.deepEqual(a, {
    format: 'conversation',
    messages: [
      { role: 'system', content: 'You are a terse math tutor.', loss_weight: 0 },
      { role: 'user', content: 'What is 12 times 11?', loss_weight: 0 },
      { role: 'assistant', content: '132.', reasoning_content: '12 * 11 = 120 + 12 = 132.', loss_weight: 1 },
    ],
  });
  assert.equal(b?.format, 'conversation');
  if (b?.format !== 'conversation') return;
  assert.deepEqual(b.messages[1], { role: 'assistant', content: '', loss_weight: 1, tool_calls: [{ type: 'function', function: { name: 'convert', arguments: { value: 5, from: 'mi', to: 'km' } } }] });
});

test('v1 content parts when broken: a text part without value, a bad tool_call value, a negative loss_weight, an image part', () => {
  const m = (role: string, content: unknown, extra = {}) => ({ role, content, ...extra });
  const lines = [
    J({ messages: [m('user', [{ type: 'text' }]), m('assistant', [{ type: 'text', value: 'ok' }])] }),
    J({ messages: [m('user', [{ type: 'text', value: 'q' }]), m('assistant', [{ type: 'tool_call', value: 'not json' }])] }),
    J({ messages: [m('user', [{ type: 'text', value: 'q' }]), m('assistant', [{ type: 'text', value: 'a' }], { loss_weight: -1 })] }),
    J({ messages: [m('user', [{ type: 'image_url', value: 'cat.png' }, { type: 'text', value: 'what is it' }]), m('assistant', [{ type: 'text', value: 'a cat' }])] }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:wrong-type', '{"type":"text"}'],
    ['1:wrong-type', '"not json"'],
    ['2:wrong-type', '-1'],
    ['3:non-text-content', '{"type":"image_url","value":"cat.png"}'],
  ]);
});

test('a message with loss_weight 0 / weight 0 carries no loss; the others do', () => {
  const tok = tinyTokenizer();
  const r = fixture('openai_functions.jsonl').records[2].normalized!;
  const enc = tok.encodeRecord(r, { lossOn: 'assistant' });
  const trained = trainedText(enc);
  assert.ok(trained.includes('Good day to you.'), trained);
  assert.ok(!trained.includes('Hey!'), trained);
});

// ---- 3. ShareGPT ranking ----

test('ShareGPT ranking without dataset_info: a preference pair', () => {
  const r = fixture('sharegpt_ranking.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'preference',
    prompt: [{ role: 'user', content: 'Is it safe to look at the sun?' }, { role: 'assistant', content: 'Not directly.' }, { role: 'user', content: 'Even for a second?' }],
    chosen: [{ role: 'assistant', content: 'Even brief direct viewing can damage the retina; use eclipse glasses.' }],
    rejected: [{ role: 'assistant', content: 'A second is fine.' }],
  });
});

test('ShareGPT ranking when broken: a reply by the human, a missing rejected, identical sides, a prompt ending with gpt', () => {
  const h = (value: string) => ({ from: 'human', value });
  const g = (value: string) => ({ from: 'gpt', value });
  const lines = [
    J({ conversations: [h('q')], chosen: h('a'), rejected: g('b') }),
    J({ conversations: [h('q')], chosen: g('a') }),
    J({ conversations: [h('q')], chosen: g('same'), rejected: g('same') }),
    J({ conversations: [h('q'), g('x')], chosen: g('a'), rejected: g('b') }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:continuation-not-assistant', '"human"'],
    ['1:missing-field', '"conversations"'],
    ['2:identical-pair', '{"from":"gpt","value":"same"}'],
    ['3:prompt-ends-with-assistant', '"gpt"'],
  ]);
});

// ---- 4. KTO as messages + boolean label ----

test('messages + boolean label is KTO data, not SFT: the undesirable answer is never a training target', () => {
  const r = fixture('kto_messages.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'unpaired-preference',
    prompt: [{ role: 'user', content: 'Write a haiku about snow.' }],
    completion: [{ role: 'assistant', content: 'Snow is cold. The end.' }],
    label: false,
  });
  const sft = checkDataset(readFileSync(join(dir, 'kto_messages.jsonl'), 'utf8'), { stage: 'sft' });
  assert.equal(sft.diagnostics.filter((d) => d.code === 'wrong-kind').length, 2, 'an SFT run refuses every KTO record');
  // A string label is a category, not KTO's: the record stays SFT and "label" is an unknown field.
  const tagged = check([J({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }], label: 'math' })]);
  assert.deepEqual(Object.keys(tagged.summary.formats), ['messages']);
});

test('KTO conversation when broken: ends with the user, no assistant at all', () => {
  const lines = [
    J({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'and?' }], label: true }),
    J({ messages: [{ role: 'user', content: 'q' }], label: false }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:no-completion', '"user"'],
    ['1:no-assistant', '"messages"'],
  ]);
});

// ---- 5. chosen_messages/rejected_messages, OpenAI preference, Axolotl DPO and segments ----

test('chosen_messages/rejected_messages: split into the shared prompt and the two replies (v1 parts included)', () => {
  const r = fixture('chosen_rejected_messages.jsonl');
  assert.deepEqual(r.records[0].normalized, {
    format: 'preference',
    prompt: [{ role: 'user', content: "Translate 'good night' to French.", loss_weight: 0 }],
    chosen: [{ role: 'assistant', content: 'Bonne nuit.', loss_weight: 1 }],
    rejected: [{ role: 'assistant', content: 'Bon jour.', loss_weight: 1 }],
  });
  const lines = [
    J({ chosen_messages: [{ role: 'user', content: 'q1' }, { role: 'assistant', content: 'a' }], rejected_messages: [{ role: 'user', content: 'q2' }, { role: 'assistant', content: 'b' }] }),
    J({ chosen_messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:implicit-prefix-mismatch', '{"role":"user","content":"q2"}'],
    ['1:missing-field', '"chosen_messages"'],
  ]);
});

test('OpenAI preference format: input.messages is the prompt, preferred/non_preferred_output the two sides', () => {
  const r = fixture('openai_preference.jsonl');
  assert.deepEqual(r.records[1].normalized, {
    format: 'preference',
    prompt: [{ role: 'system', content: 'Reply in one sentence.' }, { role: 'user', content: 'Why is the sky blue?' }],
    chosen: [{ role: 'assistant', content: 'Air scatters blue light more than red light.' }],
    rejected: [{ role: 'assistant', content: 'Because it reflects the ocean.' }],
  });
  const out = (content: string) => [{ role: 'assistant', content }];
  const lines = [
    J({ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: out('a'), non_preferred_output: out('a') }),
    J({ input: { messages: [{ role: 'user', content: 'q' }], parallel_tool_calls: 'yes' }, preferred_output: out('a'), non_preferred_output: out('b') }),
    J({ input: [], preferred_output: out('a'), non_preferred_output: out('b') }),
    J({ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'user', content: 'a' }], non_preferred_output: out('b') }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:identical-pair', '[{"role":"assistant","content":"a"}]'],
    ['1:wrong-type', '"yes"'],
    ['2:wrong-type', '[]'],
    ['3:continuation-not-assistant', '"user"'],
  ]);
});

test("Axolotl's chat-template DPO: messages is the prompt, chosen/rejected one assistant message each", () => {
  const r = fixture('axolotl_dpo.jsonl');
  assert.deepEqual(r.records[0].normalized, {
    format: 'preference',
    prompt: [{ role: 'system', content: 'Be concise.' }, { role: 'user', content: 'Name a prime number above 90.' }],
    chosen: [{ role: 'assistant', content: '97.' }],
    rejected: [{ role: 'assistant', content: '91.' }],
  });
  const lines = [
    J({ messages: [{ role: 'user', content: 'q' }], chosen: { role: 'user', content: 'a' }, rejected: { role: 'assistant', content: 'b' } }),
    J({ messages: [{ role: 'user', content: 'q' }], chosen: { role: 'assistant', content: '' }, rejected: { role: 'assistant', content: 'b' } }),
    J({ messages: [{ role: 'user', content: 'q' }], chosen: 42, rejected: { role: 'assistant', content: 'b' } }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:continuation-not-assistant', '"user"'],
    ['1:empty-content', '""'],
    ['2:wrong-type', '42'],
  ]);
});

test("Axolotl's input_output segments: SFT text whose labelled segments carry loss", () => {
  const r = fixture('axolotl_segments.jsonl');
  const record = r.records[1].normalized!;
  assert.deepEqual(record, {
    format: 'segments',
    segments: [
      { text: '<s>Q: 2 + 2 =\nA: ', label: false },
      { text: '4</s>', label: true },
      { text: '\nQ: 3 + 3 =\nA: ', label: false },
      { text: '6</s>', label: true },
    ],
  });
  const enc = tinyTokenizer().encodeRecord(record, { lossOn: 'completion' });
  const trained = trainedText(enc);
  assert.equal(trained, '4</s>6</s>');
  const lines = [
    J({ segments: [{ label: false, text: 'only context' }] }),
    J({ segments: [{ label: 'yes', text: 'x' }] }),
    J({ segments: [{ label: true }] }),
    J({ segments: [] }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:no-trained-segment', '"segments"'],
    ['1:wrong-type', '"yes"'],
    ['2:missing-field', '{"label":true}'],
    ['3:empty-content', '[]'],
  ]);
});

// ---- 6. Legacy function calling and per-record fields ----

test('legacy function calling: function_call becomes a tool call, role "function" a tool message', () => {
  const r = fixture('openai_functions.jsonl').records[0].normalized;
  assert.equal(r?.format, 'conversation');
  if (r?.format !== 'conversation') return;
  assert.deepEqual(r.messages[1], { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'local_time', arguments: '{"city": "Tokyo"}' } }] });
  assert.deepEqual(r.messages[2], { role: 'tool', name: 'local_time', content: '21:04' });
});

test('legacy function calling and per-record fields when broken', () => {
  const u = { role: 'user', content: 'q' };
  const lines = [
    J({ messages: [u, { role: 'assistant', content: null, function_call: 'local_time' }] }),
    J({ messages: [u, { role: 'assistant', content: 'a', weight: 0.5 }] }),
    J({ messages: [u, { role: 'assistant', content: 'a' }], parallel_tool_calls: 'true' }),
    J({ messages: [u, { role: 'assistant', content: 'a' }], chat_template_kwargs: ['x'] }),
    J({ messages: [u, { role: 'assistant', content: 'a' }], functions: {} }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:wrong-type', '"local_time"'],
    ['1:wrong-type', '0.5'],
    ['2:wrong-type', '"true"'],
    ['3:wrong-type', '["x"]'],
    ['4:wrong-type', '{}'],
  ]);
});

// ---- 7. Stepwise supervision ----

test('stepwise supervision: recognised, named and normalised; no stage trains it yet', () => {
  const r = fixture('stepwise.jsonl');
  assert.deepEqual(r.records[1].normalized, { format: 'stepwise', prompt: 'What is 15% of 80?', completions: ['10% of 80 is 8.', '5% of 80 is 5.', 'So 15% of 80 is 13.'], labels: [true, false, false] });
  const asSft = checkDataset(readFileSync(join(dir, 'stepwise.jsonl'), 'utf8'), { stage: 'sft' });
  assert.match(asSft.diagnostics[0]?.message ?? '', /stepwise/);
  const lines = [
    J({ prompt: 'p', completions: ['a', 'b'], labels: [true] }),
    J({ prompt: 'p', completions: ['a', ''], labels: [true, 1] }),
    J({ prompt: '', completions: ['a'], labels: [true] }),
  ];
  assert.deepEqual(broken(lines), [
    ['0:labels-mismatch', '[true]'],
    ['1:empty-content', '""'],
    ['1:wrong-type', '1'],
    ['2:empty-prompt', '""'],
  ]);
});

test('the SFT loader trains segments and refuses KTO conversations; the KTO loader reads them', async () => {
  const { loadExamples } = await import('../../../daemon/engine/data.ts');
  const { loadUnpaired } = await import('../../../daemon/engine/preferenceData.ts');
  const args = { assistant_only_loss: true, completion_only_loss: true, max_length: 256 };
  const { examples } = loadExamples(join(dir, 'axolotl_segments.jsonl'), tinyTokenizer(), args);
  assert.equal(examples.length, 2);
  assert.throws(() => loadExamples(join(dir, 'kto_messages.jsonl'), tinyTokenizer(), args), /error/);
  const kto = loadUnpaired(join(dir, 'kto_messages.jsonl'), tinyTokenizer(), { max_length: 256 });
  assert.deepEqual([kto.desirable, kto.undesirable], [1, 1]);
});
