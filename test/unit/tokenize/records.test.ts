// Every record shape through the tiny tokenizer (bytes make expected masks easy to state), plus the
// template fixes, truncation and the tiny tokenizer's files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tinyTokenizer, tinyTokenizerFiles, loadChatTokenizer, type ChatTokenizer, type EncodedRecord } from '../../../core/tokenize/index.ts';
import { compileChatTemplate } from '../../../core/tokenize/template.ts';
import { tokenOffsets } from '../../../core/tokenize/offsets.ts';

const fixtures = new URL('../../fixtures/tokenize/', import.meta.url);

/** The text of the loss-carrying tokens, runs joined by `|`. */
function lossText(tok: ChatTokenizer, enc: EncodedRecord): string {
  const runs: string[] = [];
  let cur: number[] = [];
  enc.ids.forEach((id, i) => {
    if (enc.lossMask[i]) cur.push(id);
    else if (cur.length) (runs.push(tok.decode(cur)), (cur = []));
  });
  if (cur.length) runs.push(tok.decode(cur));
  return runs.join('|');
}

test('tiny tokenizer: 259 tokens, ChatML specials, byte ids', () => {
  const tok = tinyTokenizer();
  assert.equal(tok.vocabSize, 259);
  assert.equal(tok.padId, 256);
  assert.equal(tok.eosId, 258);
  assert.deepEqual(tok.stopIds.sort(), [256, 258]);
  assert.equal(tok.bosId, undefined);
  assert.equal(tok.hasChatTemplate, true);
  assert.deepEqual(tok.encode('Az'), [65, 122]);
  assert.deepEqual(tok.encode('<|im_start|>x<|im_end|><|endoftext|>'), [257, 120, 258, 256]);
  assert.equal(tok.tokenToString(257), '<|im_start|>');
  assert.equal(tok.tokenToString(0xe4), '<0xE4>');
  assert.equal(tok.decode([257, 120, 258], { skipSpecial: true }), 'x');
});

test('tiny tokenizer round-trips arbitrary unicode', () => {
  const tok = tinyTokenizer();
  // Deterministic pseudo-random code points from every plane we can write, surrogates excluded.
  let seed = 12345;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed);
  for (let n = 0; n < 200; n++) {
    let s = '';
    const len = next() % 40;
    for (let i = 0; i < len; i++) {
      const kind = next() % 4;
      let cp = kind === 0 ? next() % 0x80 : kind === 1 ? next() % 0x800 : kind === 2 ? next() % 0x10000 : 0x10000 + (next() % 0x100000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20;
      s += String.fromCodePoint(cp);
    }
    const ids = tok.encode(s);
    assert.equal(ids.length, new TextEncoder().encode(s).length);
    assert.equal(tok.decode(ids), s);
    const enc = tok.encodeRecord({ format: 'text', text: s });
    assert.equal(enc.offsets.at(-1)![1], enc.text.length);
  }
});

test('tiny tokenizer files equal the committed fixture that transformers loads', () => {
  const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
  const read = (name: string) => JSON.parse(readFileSync(new URL(`tiny/${name}`, fixtures), 'utf8'));
  assert.deepEqual(tokenizerJson, read('tokenizer.json'), 'run: node --import tsx test/fixtures/tokenize/emit-tiny.ts');
  assert.deepEqual(tokenizerConfig, read('tokenizer_config.json'));
});

test('text records: every token carries loss and eos is appended once', () => {
  const tok = tinyTokenizer();
  const enc = tok.encodeRecord({ format: 'text', text: 'ab' });
  assert.deepEqual(enc.ids, [97, 98, 258]);
  assert.deepEqual(enc.lossMask, [true, true, true]);
  assert.deepEqual(tok.encodeRecord({ format: 'text', text: 'ab<|im_end|>' }).ids, [97, 98, 258]);
});

test('standard prompt-completion: plain concatenation, loss on completion + eos', () => {
  const tok = tinyTokenizer();
  const enc = tok.encodeRecord({ format: 'prompt-completion', prompt: 'Q: 1+1 A:', completion: ' 2' });
  assert.equal(enc.text, 'Q: 1+1 A: 2<|im_end|>');
  assert.equal(lossText(tok, enc), ' 2<|im_end|>');
  assert.equal(lossText(tok, tok.encodeRecord({ format: 'prompt-completion', prompt: 'x', completion: 'y' }, { lossOn: 'all' })), 'xy<|im_end|>');
});

test('conversational prompt-completion: loss on the completion turns only', () => {
  const tok = tinyTokenizer();
  const record = {
    format: 'prompt-completion' as const,
    prompt: [
      { role: 'user' as const, content: 'hi' },
      { role: 'assistant' as const, content: 'hello' },
      { role: 'user' as const, content: 'bye' },
    ],
    completion: [{ role: 'assistant' as const, content: 'ciao' }],
  };
  const enc = tok.encodeRecord(record);
  assert.equal(enc.text, '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nciao<|im_end|>\n');
  assert.equal(lossText(tok, enc), 'ciao<|im_end|>');
  assert.equal(lossText(tok, tok.encodeRecord(record, { lossOn: 'assistant' })), 'hello<|im_end|>|ciao<|im_end|>');
  assert.equal(tok.countTokens(record), enc.ids.length);
});

test('conversation lossOn: completion = last assistant turn, all = every token', () => {
  const tok = tinyTokenizer();
  const messages = [
    { role: 'user' as const, content: 'a' },
    { role: 'assistant' as const, content: 'b' },
    { role: 'user' as const, content: 'c' },
    { role: 'assistant' as const, content: '' },
  ];
  const rec = { format: 'conversation' as const, messages };
  assert.equal(lossText(tok, tok.encodeRecord(rec)), 'b<|im_end|>|<|im_end|>', 'an empty turn still learns to stop');
  assert.equal(lossText(tok, tok.encodeRecord(rec, { lossOn: 'completion' })), '<|im_end|>');
  const all = tok.encodeRecord(rec, { lossOn: 'all' });
  assert.ok(all.lossMask.every(Boolean));
});

test('a turn whose content repeats earlier text is still found in its own place', () => {
  const tok = tinyTokenizer();
  const messages = [
    { role: 'system' as const, content: 'yes' },
    { role: 'user' as const, content: 'yes' },
    { role: 'assistant' as const, content: 'yes' },
    { role: 'user' as const, content: 'yes' },
    { role: 'assistant' as const, content: 'yes' },
  ];
  const enc = tok.encodeRecord({ format: 'conversation', messages });
  assert.equal(lossText(tok, enc), 'yes<|im_end|>|yes<|im_end|>');
  const firstMasked = enc.lossMask.indexOf(true);
  assert.equal(enc.text.slice(0, enc.offsets[firstMasked][0]).endsWith('<|im_start|>assistant\n'), true);
});

test('preference records: both sides share the prompt, loss on the continuation', () => {
  const tok = tinyTokenizer();
  const record = {
    format: 'preference' as const,
    prompt: [{ role: 'user' as const, content: 'pick' }],
    chosen: [{ role: 'assistant' as const, content: 'good answer' }],
    rejected: [{ role: 'assistant' as const, content: 'bad' }],
  };
  const { chosen, rejected } = tok.encodePreference(record);
  assert.equal(lossText(tok, chosen), 'good answer<|im_end|>');
  assert.equal(lossText(tok, rejected), 'bad<|im_end|>');
  assert.equal(tok.countTokens(record), chosen.ids.length);
  assert.deepEqual(tok.encodeRecord(record).ids, chosen.ids);
  const std = tok.encodePreference({ format: 'preference', prompt: 'p', chosen: 'c', rejected: 'r' });
  assert.equal(lossText(tok, std.chosen), 'c<|im_end|>');
});

test('prompt-only records: the prompt with a generation prompt, no loss', () => {
  const tok = tinyTokenizer();
  const enc = tok.encodeRecord({ format: 'prompt-only', prompt: [{ role: 'user', content: 'hi' }], extra: { answer: '1' } });
  assert.equal(enc.text, '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  assert.ok(enc.lossMask.every((m) => !m));
  assert.deepEqual(tok.encodePrompt('hi'), enc.ids);
  assert.deepEqual(tok.encodeRecord({ format: 'prompt-only', prompt: 'raw', extra: {} }).ids, [114, 97, 119]);
});

test('maxLength truncates from the end and says so', () => {
  const tok = tinyTokenizer();
  const enc = tok.encodeRecord({ format: 'text', text: 'abcdef' }, { maxLength: 4 });
  assert.deepEqual(enc.ids, [97, 98, 99, 100]);
  assert.equal(enc.lossMask.length, 4);
  assert.equal(enc.offsets.length, 4);
  assert.equal(enc.truncated, true);
  assert.equal(tok.encodeRecord({ format: 'text', text: 'ab' }, { maxLength: 3 }).truncated, false);
});

test('strip with characters follows Python, not whitespace-only trimming', () => {
  const r = compileChatTemplate("{{ messages[0].content.lstrip('\\n') }}|{{ messages[0].content.rstrip('x ') }}|{{ messages[0].content.strip() }}", {});
  assert.equal(r.render([{ role: 'user', content: '\n  hi x' }], false), '  hi x|\n  hi|hi x');
});

test('chat templates get HF variables: bos_token, add_generation_prompt, tools none, raise_exception', () => {
  const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
  const tok = loadChatTokenizer(tokenizerJson, {
    ...tokenizerConfig,
    bos_token: { content: '<|endoftext|>' },
    chat_template:
      "{{ bos_token }}{% if tools is none %}T{% endif %}{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}{% endif %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}>{% endif %}",
  });
  assert.equal(tok.bosId, 256);
  assert.equal(tok.renderChat([{ role: 'user', content: 'x' }], { addGenerationPrompt: true }), '<|endoftext|>Tx>');
  assert.throws(() => tok.renderChat([{ role: 'tool', content: 'x' }]), /chat template refused this conversation: no tools/);
});

test('a tokenizer without a chat template falls back to ChatML and says so', () => {
  const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
  const { chat_template: _, ...config } = tokenizerConfig;
  const tok = loadChatTokenizer(tokenizerJson, config);
  assert.equal(tok.hasChatTemplate, false);
  assert.equal(tok.renderChat([{ role: 'user', content: 'x' }]), '<|im_start|>user\nx<|im_end|>\n');
});

test('bad tokenizer objects fail with one clear sentence', () => {
  assert.throws(() => loadChatTokenizer({}, {}), /no "model" section/);
  const { tokenizerJson } = tinyTokenizerFiles();
  assert.throws(() => loadChatTokenizer(tokenizerJson, { chat_template: '{% if %}' }), /chat template does not parse/);
});

test('offsets fall back to aligning decoded tokens when bytes are unknown', () => {
  const text = 'Hello  wörld!';
  const pieces = ['Hello', ' ', ' w', 'ö', 'rld', '!'];
  const spans = tokenOffsets(text, [0, 1, 2, 3, 4, 5], { tokenBytes: () => undefined, decodeOne: (id) => pieces[id] });
  assert.deepEqual(spans, [[0, 5], [5, 6], [6, 8], [8, 9], [9, 12], [12, 13]]);
});
