// loadChatTokenizer: a Hugging Face tokenizer.json + tokenizer_config.json pair turned into the
// ChatTokenizer every part of Anneal uses. Built on @huggingface/tokenizers (ids) and
// @huggingface/jinja (chat templates); what is ours is the loss mask and the token offsets.
//
// Costs (2-core dev machine, test/bench/tokenize.bench.ts): constructing Qwen3 (151k tokens) takes
// 1-2.5 s and Llama 3 1.5-3.5 s, so callers load once and keep the object (loadTokenizerFromFolder
// caches per folder). countTokens of a short 3-turn chat costs about 1-2.5 ms (Jinja rendering and
// BPE roughly half each): fine for a hover, about 1.5-4 minutes for 100k records, so whole-file
// checks should count in the background or on demand.

import { Tokenizer } from '@huggingface/tokenizers';
import type { Message, NormalizedRecord, Turns } from '../datasets/types.ts';
import { pieceStyle, pieceToBytes, utf8Bytes } from './bytes.ts';
import { tokenOffsets, type OffsetSource } from './offsets.ts';
import { CHATML_TEMPLATE, compileChatTemplate, pickChatTemplate, type SpecialTokenStrings } from './template.ts';
import { assistantTurnSpans, type CharSpan } from './turnSpans.ts';
import type { ChatTokenizer, EncodedRecord, EncodeRecordOptions, LossOn } from './types.ts';

/** Token strings that end a turn in common chat formats; those present in a vocabulary stop sampling. */
const END_OF_TURN_TOKENS = ['<|im_end|>', '<|eot_id|>', '<|eom_id|>', '<|endoftext|>', '<end_of_turn>', '<|end|>', '</s>', '<|end_of_text|>'];

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** A special token in tokenizer_config.json is a string, null, or an AddedToken object with `content`. */
function tokenString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadOptions {
  /** A chat template found beside the config (chat_template.jinja) when the config has none. */
  chatTemplate?: string;
  /** Extra stop ids, e.g. generation_config.json's eos_token_id list. */
  extraStopIds?: number[];
}

/** Build a ChatTokenizer from parsed tokenizer.json and tokenizer_config.json objects. */
export function loadChatTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown, options: LoadOptions = {}): ChatTokenizer {
  if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
    throw new Error('tokenizer.json is not a Hugging Face tokenizer (no "model" section); use the tokenizer.json saved with the model.');
  }
  const config = isObject(tokenizerConfig) ? tokenizerConfig : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config);
  } catch (err) {
    throw new Error(`tokenizer.json could not be loaded (${(err as Error).message}); use a tokenizer.json saved by a recent transformers version.`);
  }
  return new HfChatTokenizer(tok, tokenizerJson, config, options);
}

/** An assistant message its dataset asks not to train on (OpenAI's `weight: 0`, LLaMA-Factory v1's `loss_weight: 0`). */
function unweighted(m: Message): boolean {
  return m.weight === 0 || m.loss_weight === 0;
}

class HfChatTokenizer implements ChatTokenizer {
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly bosId?: number;
  readonly stopIds: number[];
  readonly hasChatTemplate: boolean;
  private readonly renderer;
  private readonly eosToken: string;
  private readonly specialStrings: string[];
  private readonly offsetSource: OffsetSource;
  /** transformers 5 applies clean_up_tokenization_spaces to WordPiece only: it corrupts BPE text. */
  private readonly cleanUpSpaces: boolean;

  constructor(
    private readonly tok: Tokenizer,
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    options: LoadOptions,
  ) {
    const added = tok.get_added_tokens_decoder();
    let maxId = -1;
    for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.specialStrings = [...added.values()].filter((t) => t.special).map((t) => t.content);

    const specials: SpecialTokenStrings = {};
    for (const key of SPECIAL_KEYS) specials[key] = tokenString(config[key]);
    const extra = config.additional_special_tokens;
    specials.additional_special_tokens = Array.isArray(extra) ? extra.map(tokenString).filter((s): s is string => s !== null) : [];

    const idOf = (s: string | null) => (s === null ? undefined : tok.token_to_id(s));
    const eos = specials.eos_token as string | null;
    const eosId = idOf(eos) ?? END_OF_TURN_TOKENS.map(idOf).find((x) => x !== undefined);
    if (eosId === undefined) {
      throw new Error('The tokenizer has no end-of-sequence token; set "eos_token" in tokenizer_config.json.');
    }
    this.eosId = eosId;
    this.eosToken = tok.id_to_token(eosId) ?? '';
    this.padId = idOf(specials.pad_token as string | null) ?? eosId;
    this.bosId = idOf(specials.bos_token as string | null);
    const stops = new Set<number>([eosId, ...(options.extraStopIds ?? [])]);
    for (const s of END_OF_TURN_TOKENS) {
      const id = idOf(s);
      if (id !== undefined && added.get(id)?.special) stops.add(id);
    }
    this.stopIds = [...stops];

    const source = pickChatTemplate(config) ?? options.chatTemplate;
    this.hasChatTemplate = source !== undefined;
    this.renderer = compileChatTemplate(source ?? CHATML_TEMPLATE, specials);

    this.cleanUpSpaces =
      config.clean_up_tokenization_spaces === true && (tokenizerJson.model as { type?: unknown }).type === 'WordPiece';
    const style = pieceStyle(tokenizerJson);
    const byteCache = new Map<number, number[] | undefined>();
    this.offsetSource = {
      tokenBytes: (id) => {
        if (byteCache.has(id)) return byteCache.get(id);
        const addedToken = added.get(id);
        const piece = tok.id_to_token(id);
        const bytes = addedToken
          ? Array.from(utf8Bytes(addedToken.content))
          : piece === undefined
            ? undefined
            : pieceToBytes(piece, style);
        byteCache.set(id, bytes);
        return bytes;
      },
      decodeOne: (id) => tok.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: this.cleanUpSpaces }),
    };
  }

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  tokenToString(id: number): string {
    const bytes = this.offsetSource.tokenBytes(id);
    if (bytes) {
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
      } catch {
        // A token holding part of a multi-byte character: show its bytes.
        return bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`).join('');
      }
    }
    return this.tok.id_to_token(id) ?? `<${id}>`;
  }

  renderChat(messages: Message[], opts: { addGenerationPrompt?: boolean } = {}): string {
    try {
      return this.renderer.render(messages, opts.addGenerationPrompt ?? false);
    } catch (err) {
      throw new Error(`The chat template refused this conversation: ${(err as Error).message}`);
    }
  }

  encodeRecord(record: NormalizedRecord, opts: EncodeRecordOptions = {}): EncodedRecord {
    const { text, spans } = this.layout(record, opts.lossOn);
    return this.finish(text, spans, opts.maxLength);
  }

  encodePreference(
    record: Extract<NormalizedRecord, { format: 'preference' }>,
    opts: EncodeRecordOptions = {},
  ): { chosen: EncodedRecord; rejected: EncodedRecord } {
    const side = (completion: Turns) => {
      const { text, spans } = this.promptCompletion(record.prompt, completion, opts.lossOn ?? 'completion');
      return this.finish(text, spans, opts.maxLength);
    };
    return { chosen: side(record.chosen), rejected: side(record.rejected) };
  }

  encodePrompt(prompt: Turns): number[] {
    const messages = typeof prompt === 'string' ? [{ role: 'user' as const, content: prompt }] : prompt;
    return this.encode(this.renderChat(messages, { addGenerationPrompt: true }));
  }

  countTokens(record: NormalizedRecord): number {
    if (record.format === 'preference') {
      const a = this.promptCompletion(record.prompt, record.chosen, 'completion').text;
      const b = this.promptCompletion(record.prompt, record.rejected, 'completion').text;
      return Math.max(this.encode(a).length, this.encode(b).length);
    }
    return this.encode(this.render(record)).length;
  }

  /** Only the rendered text (no spans): what countTokens needs. */
  private render(record: NormalizedRecord): string {
    switch (record.format) {
      case 'text':
        return this.withEos(record.text);
      case 'conversation':
        return this.renderChat(record.messages);
      case 'prompt-only':
        return this.promptText(record.prompt);
      default:
        return this.layout(record, 'completion').text;
    }
  }

  private layout(record: NormalizedRecord, lossOn: LossOn | undefined): { text: string; spans: CharSpan[] | 'all' } {
    switch (record.format) {
      case 'text':
        return { text: this.withEos(record.text), spans: 'all' };
      case 'conversation': {
        const text = this.renderChat(record.messages);
        if (lossOn === 'all') return { text, spans: 'all' };
        const assistants = record.messages.flatMap((m, i) => (m.role === 'assistant' && !unweighted(m) ? [i] : []));
        const turns = lossOn === 'completion' ? assistants.slice(-1) : assistants;
        return { text, spans: assistantTurnSpans(this.renderer, record.messages, turns, text, this.specialStrings) };
      }
      case 'prompt-only': {
        const text = this.promptText(record.prompt);
        return { text, spans: lossOn === 'all' ? 'all' : [] };
      }
      case 'prompt-completion':
      case 'unpaired-preference':
        return this.promptCompletion(record.prompt, record.completion, lossOn ?? 'completion');
      case 'preference':
        return this.promptCompletion(record.prompt, record.chosen, lossOn ?? 'completion');
      case 'segments': {
        // Axolotl's input_output: the pieces are joined as written (no template); labelled pieces carry loss.
        const spans: CharSpan[] = [];
        let text = '';
        for (const seg of record.segments) {
          if (seg.label) spans.push({ start: text.length, end: text.length + seg.text.length });
          text += seg.text;
        }
        return { text, spans: lossOn === 'all' ? 'all' : spans };
      }
      case 'stepwise': {
        // Not trained by any stage yet; laid out as the prompt then one step per line, for counting and hover.
        const prompt = this.promptText(record.prompt);
        const text = prompt + record.completions.join('\n');
        return { text, spans: [{ start: prompt.length, end: text.length }] };
      }
    }
  }

  /** A standard prompt is used as-is (TRL does not template plain strings); a conversation gets the template. */
  private promptText(prompt: Turns): string {
    return typeof prompt === 'string' ? prompt : this.renderChat(prompt, { addGenerationPrompt: true });
  }

  private promptCompletion(prompt: Turns, completion: Turns, lossOn: LossOn): { text: string; spans: CharSpan[] | 'all' } {
    if (typeof prompt === 'string' && typeof completion === 'string') {
      // Standard prompt-completion: plain concatenation, the completion (and eos) carries loss.
      const text = this.withEos(prompt + completion);
      return { text, spans: lossOn === 'all' ? 'all' : [{ start: prompt.length, end: text.length }] };
    }
    const asTurns = (t: Turns, role: 'user' | 'assistant'): Message[] => (typeof t === 'string' ? [{ role, content: t }] : t);
    const promptMessages = asTurns(prompt, 'user');
    const messages = [...promptMessages, ...asTurns(completion, 'assistant')];
    const text = this.renderChat(messages);
    if (lossOn === 'all') return { text, spans: 'all' };
    const first = lossOn === 'assistant' ? 0 : promptMessages.length;
    const turns = messages.flatMap((m, i) => (m.role === 'assistant' && i >= first && !unweighted(m) ? [i] : []));
    return { text, spans: assistantTurnSpans(this.renderer, messages, turns, text, this.specialStrings) };
  }

  private withEos(text: string): string {
    return text.endsWith(this.eosToken) ? text : text + this.eosToken;
  }

  private finish(text: string, spans: CharSpan[] | 'all', maxLength: number | undefined): EncodedRecord {
    let ids = this.encode(text);
    let offsets = tokenOffsets(text, ids, this.offsetSource);
    // A token carries loss when any of its characters lies in a loss span (as transformers'
    // return_assistant_tokens_mask does).
    let lossMask =
      spans === 'all'
        ? ids.map(() => true)
        : offsets.map(([s, e]) => spans.some((span) => (e > s ? s < span.end && e > span.start : s >= span.start && s < span.end)));
    let truncated = false;
    if (maxLength !== undefined && maxLength >= 0 && ids.length > maxLength) {
      ids = ids.slice(0, maxLength);
      offsets = offsets.slice(0, maxLength);
      lossMask = lossMask.slice(0, maxLength);
      truncated = true;
    }
    return { ids, lossMask, text, offsets, truncated };
  }
}
