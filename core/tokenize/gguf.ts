// A GGUF file's tokenizer metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`) turned into the
// tokenizer.json + tokenizer_config.json pair that loadChatTokenizer reads, so a .gguf model gets the
// same ChatTokenizer (loss masks, offsets, chat template) as a Hugging Face folder. Two vocabulary
// kinds: "gpt2" (byte-level BPE with merges: GPT-2, SmolLM, Llama 3, Qwen2) and "llama"
// (SentencePiece BPE with scores and byte fallback: Llama 1/2, Mistral, TinyLlama).

/** GGUF token types (llama.cpp's llama_token_type). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** The metadata this needs; values as the GGUF reader returns them. */
export type GgufTokenizerMetadata = Record<string, unknown>;

// Pre-tokenizer regexes by `tokenizer.ggml.pre`, for vocabularies that split before byte-level BPE.
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function byteLevel(useRegex: boolean): Record<string, unknown> {
  return { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex };
}

function splitThenByteLevel(pattern: string): Record<string, unknown> {
  return {
    type: 'Sequence',
    pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, byteLevel(false)],
  };
}

/** The pre-tokenizer that matches llama.cpp's pre-tokenizer type `pre` (the Hugging Face originals'). */
function gpt2PreTokenizer(pre: string): Record<string, unknown> {
  switch (pre) {
    case 'smollm':
    case 'starcoder':
    case 'refact':
      // Digits split one by one, then GPT-2's byte-level split (SmolLM2's tokenizer.json).
      return { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] };
    case 'llama-bpe':
    case 'llama3':
    case 'smaug-bpe':
      return splitThenByteLevel(LLAMA3_PATTERN);
    case 'qwen2':
    case 'deepseek-r1-qwen':
      return splitThenByteLevel(QWEN2_PATTERN);
    default:
      return splitThenByteLevel(GPT2_PATTERN);
  }
}

/** Pre-tokenizer types whose splitting we reproduce exactly; others fall back to GPT-2's. */
export const KNOWN_GGUF_PRE = ['default', 'gpt-2', 'gpt2', 'smollm', 'starcoder', 'refact', 'llama-bpe', 'llama3', 'smaug-bpe', 'qwen2', 'deepseek-r1-qwen'];

function strings(meta: GgufTokenizerMetadata, key: string): string[] | undefined {
  const v = meta[key];
  return Array.isArray(v) ? (v as unknown[]).map(String) : undefined;
}

function numbers(meta: GgufTokenizerMetadata, key: string): number[] | undefined {
  const v = meta[key];
  return Array.isArray(v) ? (v as unknown[]).map(Number) : undefined;
}

function optionalId(meta: GgufTokenizerMetadata, key: string): number | undefined {
  const v = meta[key];
  return v === undefined || v === null ? undefined : Number(v);
}

/**
 * Merges for a SentencePiece BPE vocabulary, which stores scores instead. SentencePiece encodes by
 * repeatedly joining the adjacent pair whose concatenation is the best-scored piece of the
 * vocabulary (any two pieces that spell it will do), the leftmost pair on a tie. Hugging Face's BPE
 * repeatedly joins the adjacent pair with the lowest merge rank (leftmost on a tie), so listing
 * every split of every piece, best merged score first, makes it join the same pairs in the same order.
 *
 * Equal scores are ranked by the merged piece's id: SentencePiece stores pieces in the order
 * training learned them, so for its own files (score = minus that order) this changes nothing, and
 * for a file whose scores were all flattened to one value (gguf-py's LlamaHfVocab writes -1000 for
 * every token) it recovers the learned order. Splits of one piece come out together, lower left id
 * first; the one case this cannot mirror is two different splits of the same piece both being
 * candidates in one word, where SentencePiece takes the leftmost and the rank order the lower-id split.
 */
function mergesFromScores(tokens: string[], scores: number[], mergeable: (id: number) => boolean): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (mergeable(i) && !idOf.has(t)) idOf.set(t, i);
  });
  const found: { left: string; right: string; score: number; id: number; leftId: number }[] = [];
  for (const [piece, id] of idOf) {
    const chars = Array.from(piece);
    for (let cut = 1; cut < chars.length; cut++) {
      const left = chars.slice(0, cut).join('');
      const right = chars.slice(cut).join('');
      const l = idOf.get(left);
      if (l !== undefined && idOf.has(right)) found.push({ left, right, score: scores[id] ?? 0, id, leftId: l });
    }
  }
  found.sort((a, b) => b.score - a.score || a.id - b.id || a.leftId - b.leftId);
  return found.map((m) => [m.left, m.right]);
}

/** tokenizer.json and tokenizer_config.json objects for a GGUF file's vocabulary; throws one sentence. */
export function tokenizerFilesFromGguf(meta: GgufTokenizerMetadata): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const kind = String(meta['tokenizer.ggml.model'] ?? '');
  const tokens = strings(meta, 'tokenizer.ggml.tokens');
  if (!tokens) throw new Error('The GGUF file has no tokenizer (tokenizer.ggml.tokens); use a GGUF converted with its tokenizer, or a Hugging Face folder.');
  const types = numbers(meta, 'tokenizer.ggml.token_type') ?? tokens.map(() => TOKEN_TYPE.NORMAL);
  const special = (id: number) => types[id] === TOKEN_TYPE.CONTROL || types[id] === TOKEN_TYPE.USER_DEFINED || types[id] === TOKEN_TYPE.UNKNOWN;
  const addedTokens = tokens.flatMap((content, id) =>
    special(id)
      ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: types[id] !== TOKEN_TYPE.USER_DEFINED }]
      : [],
  );
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const bosId = optionalId(meta, 'tokenizer.ggml.bos_token_id');
  const eosId = optionalId(meta, 'tokenizer.ggml.eos_token_id');
  const unkId = optionalId(meta, 'tokenizer.ggml.unknown_token_id');
  const padId = optionalId(meta, 'tokenizer.ggml.padding_token_id');
  const addBos = meta['tokenizer.ggml.add_bos_token'] === true || (kind === 'llama' && meta['tokenizer.ggml.add_bos_token'] !== false);
  const addEos = meta['tokenizer.ggml.add_eos_token'] === true;
  const tokenAt = (id: number | undefined) => (id !== undefined && id >= 0 && id < tokens.length ? tokens[id]! : null);

  // BOS/EOS added around every encoding, as the tokenizer's own post-processor would.
  const single: unknown[] = [];
  const specialTokens: Record<string, unknown> = {};
  const addSpecial = (id: number | undefined) => {
    const t = tokenAt(id);
    if (t === null) return;
    single.push({ SpecialToken: { id: t, type_id: 0 } });
    specialTokens[t] = { id: t, ids: [id], tokens: [t] };
  };
  if (addBos) addSpecial(bosId);
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos) addSpecial(eosId);
  const postProcessor = addBos || addEos ? { type: 'TemplateProcessing', single, pair: [...single, ...single], special_tokens: specialTokens } : null;

  let model: Record<string, unknown>;
  let normalizer: Record<string, unknown> | null = null;
  let preTokenizer: Record<string, unknown> | null = null;
  let decoder: Record<string, unknown>;
  if (kind === 'gpt2') {
    const merges = strings(meta, 'tokenizer.ggml.merges');
    if (!merges) throw new Error('The GGUF file has a BPE vocabulary but no tokenizer.ggml.merges; reconvert it with llama.cpp.');
    model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map((m) => m.split(' ')) };
    preTokenizer = gpt2PreTokenizer(String(meta['tokenizer.ggml.pre'] ?? 'default'));
    decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
  } else if (kind === 'llama') {
    const scores = numbers(meta, 'tokenizer.ggml.scores') ?? tokens.map(() => 0);
    const mergeable = (id: number) => types[id] === TOKEN_TYPE.NORMAL || types[id] === TOKEN_TYPE.UNUSED || types[id] === undefined;
    model = { type: 'BPE', dropout: null, unk_token: tokenAt(unkId), continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: mergesFromScores(tokens, scores, mergeable) };
    const addSpace = meta['tokenizer.ggml.add_space_prefix'] !== false;
    const replace = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' };
    normalizer = addSpace ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, replace] } : replace;
    const decoders: unknown[] = [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }];
    if (addSpace) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
    decoder = { type: 'Sequence', decoders };
  } else {
    throw new Error(`The GGUF file's tokenizer is of kind "${kind || 'none'}"; Anneal reads "gpt2" (byte-level BPE) and "llama" (SentencePiece) vocabularies.`);
  }

  const tokenizerJson = { version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer, pre_tokenizer: preTokenizer, post_processor: postProcessor, decoder, model };
  const tokenizerConfig: Record<string, unknown> = {
    bos_token: tokenAt(bosId),
    eos_token: tokenAt(eosId),
    unk_token: tokenAt(unkId),
    pad_token: tokenAt(padId),
    add_bos_token: addBos,
    add_eos_token: addEos,
    clean_up_tokenization_spaces: false,
    tokenizer_class: kind === 'llama' ? 'LlamaTokenizerFast' : 'PreTrainedTokenizerFast',
  };
  const template = meta['tokenizer.chat_template'];
  if (typeof template === 'string') tokenizerConfig.chat_template = template;
  return { tokenizerJson, tokenizerConfig };
}
