// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) as GGUF `tokenizer.ggml.*`
// metadata, so llama.cpp splits text into the same ids Anneal trained on. Written for byte-level BPE
// vocabularies (llama.cpp's "gpt2" model: GPT-2, SmolLM, Llama 3, Qwen2, Anneal's tiny); a
// SentencePiece or WordPiece tokenizer is refused with the reason. The inverse of
// core/tokenize/gguf.ts, which reads these keys back into tokenizer.json form.
import type { ChatTokenizer } from '../../core/tokenize/types.ts';
import { gv, type GgufValue } from './ggufWriter.ts';

/** llama.cpp's token types (llama_token_type). */
const TOKEN_TYPE = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every pre-tokenizer step, flattened out of Sequence wrappers. */
function steps(pre: unknown): Json[] {
  if (!isObject(pre)) return [];
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers)) return (pre.pretokenizers as unknown[]).flatMap(steps);
  return [pre];
}

/** True when the tokenizer maps bytes to printable characters (GPT-2's byte-level encoding). */
function isByteLevel(json: Json): boolean {
  const decoder = json.decoder;
  const decoders = isObject(decoder) && decoder.type === 'Sequence' && Array.isArray(decoder.decoders) ? (decoder.decoders as unknown[]) : [decoder];
  return steps(json.pre_tokenizer).some((s) => s.type === 'ByteLevel') || decoders.some((d) => isObject(d) && d.type === 'ByteLevel');
}

/**
 * llama.cpp's pre-tokenizer name (`tokenizer.ggml.pre`) whose splitting equals the tokenizer's: it
 * picks the regex llama.cpp splits words with. Recognised by the pre-tokenizer's structure and its
 * split pattern; an unknown split refuses the export (ids would differ from training's).
 */
export function ggufPreTokenizer(json: Json): string {
  const list = steps(json.pre_tokenizer);
  const byteLevel = list.find((s) => s.type === 'ByteLevel');
  const splits = list.filter((s) => s.type === 'Split');
  const digits = list.find((s) => s.type === 'Digits');
  if (digits && digits.individual_digits === true && splits.length === 0 && byteLevel?.use_regex !== false) return 'smollm';
  // GPT-2's own regex; a byte-level step that splits nothing only matches it when there are no merges (Anneal's tiny).
  const merges = ((json.model as Json | undefined)?.merges as unknown[] | undefined) ?? [];
  if (!digits && splits.length === 0 && byteLevel && (byteLevel.use_regex !== false || merges.length === 0)) return 'gpt-2';
  if (splits.length === 1 && !digits) {
    const pattern = (splits[0]!.pattern as Json | undefined)?.Regex;
    if (typeof pattern === 'string') {
      const llama3 = pattern.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)") && pattern.includes('\\p{N}{1,3}');
      const qwen2 = pattern.includes("(?i:'s|'t|'re|'ve|'m|'ll|'d)") && pattern.includes('|\\p{N}|') && !pattern.includes('\\p{N}{1,3}');
      if (llama3) return 'llama-bpe';
      if (qwen2) return 'qwen2';
    }
  }
  throw new Error(`The tokenizer's pre-tokenizer (${JSON.stringify(json.pre_tokenizer).slice(0, 160)}) is not one llama.cpp reproduces exactly (GPT-2, SmolLM, Llama 3 and Qwen2 splits are); a GGUF would tokenize differently from training.`);
}

/** An AddedToken value of tokenizer_config.json (a string, or an object with `content`). */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** Whether the tokenizer's post-processor puts a token before (bos) or after (eos) every encoding. */
function addsSpecial(json: Json): { bos: boolean; eos: boolean } {
  const post = json.post_processor;
  const procs = isObject(post) && post.type === 'Sequence' && Array.isArray(post.processors) ? (post.processors as unknown[]) : [post];
  for (const p of procs) {
    if (!isObject(p) || p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) continue;
    const single = p.single as Json[];
    return { bos: 'SpecialToken' in (single[0] ?? {}), eos: single.length > 1 && 'SpecialToken' in (single[single.length - 1] ?? {}) };
  }
  return { bos: false, eos: false };
}

/**
 * The `tokenizer.*` keys for a model whose embedding has `vocabSize` rows: tokens by id (holes and rows
 * past the tokenizer filled with unused `[PAD<id>]` tokens), their types, BPE merges, the special ids,
 * whether BOS/EOS are added, and the chat template. Throws one sentence for a tokenizer llama.cpp
 * would read differently.
 */
export function ggufTokenizerMetadata(files: Map<string, string>, tokenizer: ChatTokenizer, vocabSize: number, chatTemplate: string): Map<string, GgufValue> {
  const text = files.get('tokenizer.json');
  if (text === undefined) throw new Error('The model has no tokenizer.json, so its GGUF would have no vocabulary; add the tokenizer files to the folder.');
  const json = JSON.parse(text) as Json;
  const model = json.model as Json;
  if (!isObject(model) || model.type !== 'BPE' || !isByteLevel(json)) {
    const kind = isObject(model) ? `${String(model.type)}${model.byte_fallback ? ' with byte fallback (SentencePiece)' : ''}` : 'unknown';
    throw new Error(`The tokenizer is a ${kind} tokenizer; the GGUF export writes byte-level BPE vocabularies (GPT-2, SmolLM, Llama 3, Qwen2). Export --format merged and convert that folder with llama.cpp's converter.`);
  }
  if (isObject(json.normalizer)) throw new Error(`The tokenizer normalizes text (${String(json.normalizer.type)}) before BPE, which llama.cpp's byte-level vocabulary does not; export --format merged instead.`);
  const config = files.has('tokenizer_config.json') ? (JSON.parse(files.get('tokenizer_config.json')!) as Json) : {};

  const tokens: (string | undefined)[] = [];
  const types: number[] = [];
  for (const [piece, id] of Object.entries(model.vocab as Record<string, number>)) {
    tokens[id] = piece;
    types[id] = TOKEN_TYPE.NORMAL;
  }
  for (const added of (json.added_tokens as Json[] | undefined) ?? []) {
    const id = Number(added.id);
    tokens[id] = String(added.content);
    types[id] = added.special === true ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  }
  if (tokens.length > vocabSize) throw new Error(`The tokenizer has ${tokens.length} tokens but the model's embedding only ${vocabSize} rows; the tokenizer does not belong to this model.`);
  const count = vocabSize;
  const names: string[] = [];
  const kinds: number[] = [];
  for (let id = 0; id < count; id++) {
    const t = tokens[id];
    names.push(t ?? `[PAD${id}]`);
    kinds.push(t === undefined ? TOKEN_TYPE.UNUSED : types[id]!);
  }
  const rawMerges = (model.merges as unknown[] | undefined) ?? [];
  const merges = rawMerges.map((m) => {
    const pair = Array.isArray(m) ? (m as string[]) : String(m).split(' ');
    if (pair.length !== 2 || pair.some((p) => p.includes(' '))) throw new Error(`The tokenizer has a merge ${JSON.stringify(m)} that GGUF's "left right" form cannot hold.`);
    return pair.join(' ');
  });

  const idOf = (key: string) => {
    const s = tokenString(config[key]);
    const id = s === undefined ? -1 : names.indexOf(s);
    return id >= 0 ? id : undefined;
  };
  const adds = addsSpecial(json);
  const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : adds.bos;
  const addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : adds.eos;
  const meta = new Map<string, GgufValue>([
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.pre', gv.str(ggufPreTokenizer(json))],
    ['tokenizer.ggml.tokens', gv.strings(names)],
    ['tokenizer.ggml.token_type', gv.i32s(kinds)],
    ['tokenizer.ggml.merges', gv.strings(merges)],
    ['tokenizer.ggml.eos_token_id', gv.u32(tokenizer.eosId)],
    ['tokenizer.ggml.padding_token_id', gv.u32(tokenizer.padId)],
  ]);
  const bos = tokenizer.bosId ?? idOf('bos_token');
  if (bos !== undefined) meta.set('tokenizer.ggml.bos_token_id', gv.u32(bos));
  const unk = idOf('unk_token');
  if (unk !== undefined) meta.set('tokenizer.ggml.unknown_token_id', gv.u32(unk));
  meta.set('tokenizer.ggml.add_bos_token', gv.bool(addBos && bos !== undefined));
  meta.set('tokenizer.ggml.add_eos_token', gv.bool(addEos));
  meta.set('tokenizer.chat_template', gv.str(chatTemplate));
  return meta;
}
