// A GGUF file with a Llama-style SentencePiece BPE vocabulary (Llama 1/2, Mistral, TinyLlama): the
// tokenizer rebuilt from its `tokenizer.ggml.*` metadata gives SentencePiece's ids, split on control
// tokens as llama.cpp does, and the chat template's prompt with BOS once.
// Fixtures: test/fixtures/gguf/make_spm_fixture.py (a tiny SentencePiece model trained there).

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readGgufHeader } from '../../../daemon/engine/gguf.ts';
import { loadChatTokenizer } from '../../../core/tokenize/chatTokenizer.ts';
import { tokenizerFilesFromGguf, type GgufTokenizerMetadata } from '../../../core/tokenize/gguf.ts';
import type { ChatTokenizer } from '../../../core/tokenize/types.ts';
import type { Message } from '../../../core/datasets/types.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'gguf');

const ref = JSON.parse(readFileSync(join(FIXTURES, 'spm_llama.json'), 'utf8')) as {
  bos_id: number;
  vocab_size: number;
  texts: { text: string; ids: number[]; decoded: string }[];
  random: { text: string; ids: number[] }[];
  prompt: { messages: Message[]; text: string; ids: number[] };
  chat: { messages: Message[]; text: string; ids: number[]; prompt_length: number };
};

let metadata: GgufTokenizerMetadata;
let tok: ChatTokenizer;

function build(meta: GgufTokenizerMetadata): ChatTokenizer {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(meta);
  return loadChatTokenizer(tokenizerJson, tokenizerConfig);
}

before(async () => {
  metadata = (await readGgufHeader(join(FIXTURES, 'spm_llama.gguf'))).metadata;
  tok = build(metadata);
});

test('the vocabulary and special tokens come from the metadata', () => {
  assert.equal(metadata['tokenizer.ggml.model'], 'llama');
  assert.equal(tok.vocabSize, ref.vocab_size);
  assert.equal(tok.bosId, ref.bos_id);
  assert.equal(tok.eosId, 2);
  assert.ok(tok.stopIds.includes(2));
});

test("encode gives SentencePiece's ids: spaces, newlines, tabs, digits, byte fallback, control tokens", () => {
  for (const { text, ids } of ref.texts) assert.deepEqual(tok.encode(text), ids, JSON.stringify(text));
  assert.deepEqual(tok.encode(''), []);
});

test("random strings stitched from the vocabulary's pieces get SentencePiece's merges", () => {
  let bad = 0;
  for (const { text, ids } of ref.random) if (JSON.stringify(tok.encode(text)) !== JSON.stringify(ids)) bad++;
  assert.equal(bad, 0, `${bad} of ${ref.random.length} random strings differ`);
});

test('decode gives the text back (control tokens spelled out, as transformers does)', () => {
  for (const { text, ids, decoded } of ref.texts) assert.equal(tok.decode(ids), decoded, JSON.stringify(text));
  for (const { text, ids } of ref.random) assert.equal(tok.decode(ids), text);
  assert.equal(tok.decode(ref.chat.ids, { skipSpecial: true }), ref.chat.text.replace('<s>', '').replace('</s>', ''));
});

test('the chat template renders with BOS once and the prompt gets llama.cpp-style ids', () => {
  assert.equal(tok.hasChatTemplate, true);
  assert.equal(tok.renderChat(ref.prompt.messages, { addGenerationPrompt: true }), ref.prompt.text);
  const ids = tok.encodePrompt(ref.prompt.messages);
  assert.deepEqual(ids, ref.prompt.ids);
  assert.deepEqual(
    ids.flatMap((id, i) => (id === ref.bos_id ? [i] : [])),
    [0],
  );
});

test("a conversation's ids match and only the reply carries loss", () => {
  const record = tok.encodeRecord({ format: 'conversation', messages: ref.chat.messages } as never);
  assert.equal(record.text, ref.chat.text);
  assert.deepEqual(record.ids, ref.chat.ids);
  const n = ref.chat.prompt_length;
  assert.deepEqual(record.lossMask, ref.chat.ids.map((_, i) => i >= n));
});

test('add_bos_token puts BOS in front when special tokens are added', () => {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(metadata);
  assert.equal(tokenizerConfig.add_bos_token, true);
  const raw = new Tokenizer(tokenizerJson, tokenizerConfig);
  const { text, ids } = ref.texts[0]!;
  assert.deepEqual(raw.encode(text).ids, [ref.bos_id, ...ids]);
});

test('scores flattened to one value (a vocabulary converted from tokenizer.json) still merge in the learned order', () => {
  const scores = metadata['tokenizer.ggml.scores'] as ArrayLike<number>;
  const flat = build({ ...metadata, 'tokenizer.ggml.scores': Array.from(scores, () => -1000) });
  for (const { text, ids } of [...ref.texts, ...ref.random]) assert.deepEqual(flat.encode(text), ids, JSON.stringify(text));
});
