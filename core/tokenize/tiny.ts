// The built-in `tiny` model's tokenizer: one token per byte plus the three ChatML special tokens,
// written out as a genuine Hugging Face tokenizer.json / tokenizer_config.json pair so the tiny model
// goes through exactly the loading path real models use, and a saved tiny model loads in transformers.

import { byteToUnicodeTable } from './bytes.ts';
import { loadChatTokenizer } from './chatTokenizer.ts';
import type { ChatTokenizer } from './types.ts';

export const TINY_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** ChatML, as Qwen-style instruct models render it. */
const TINY_CHAT_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** The tiny tokenizer's tokenizer.json and tokenizer_config.json objects (ids 0-255 are bytes). */
export function tinyTokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const vocab: Record<string, number> = {};
  byteToUnicodeTable().forEach((ch, byte) => {
    vocab[ch] = byte;
  });
  const added = TINY_SPECIAL_TOKENS.map((content, i) => ({
    id: 256 + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: null,
    chat_template: TINY_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  return { tokenizerJson, tokenizerConfig };
}

let tiny: ChatTokenizer | undefined;

/** The built-in `tiny` model's tokenizer (259 tokens; eos `<|im_end|>`, pad `<|endoftext|>`). */
export function tinyTokenizer(): ChatTokenizer {
  if (!tiny) {
    const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
    tiny = loadChatTokenizer(tokenizerJson, tokenizerConfig);
  }
  return tiny;
}
