// Byte views of tokens. Byte-level BPE (GPT-2, Llama 3, Qwen) spells each byte as one printable
// character; SentencePiece-style models spell spaces as `▁` and unknown bytes as `<0xNN>`. Knowing
// the bytes of every token lets us place each token in the rendered text without re-encoding.

/** The GPT-2 byte -> printable character table (printable Latin-1 bytes stand for themselves). */
export function byteToUnicodeTable(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + next++);
  }
  return table;
}

let unicodeToByteCache: Map<string, number> | undefined;

/** Inverse of byteToUnicodeTable. */
export function unicodeToByte(): Map<string, number> {
  if (!unicodeToByteCache) {
    unicodeToByteCache = new Map(byteToUnicodeTable().map((ch, b) => [ch, b]));
  }
  return unicodeToByteCache;
}

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/** How a model's vocabulary spells bytes, read from tokenizer.json. */
export type PieceStyle = 'byte-level' | 'metaspace' | 'other';

/** Detect the piece style from the decoder / pre-tokenizer of a tokenizer.json object. */
export function pieceStyle(tokenizerJson: Record<string, unknown>): PieceStyle {
  const types = new Set<string>();
  const collect = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (typeof n.type === 'string') types.add(n.type);
    for (const key of ['decoders', 'pretokenizers']) {
      if (Array.isArray(n[key])) (n[key] as unknown[]).forEach(collect);
    }
  };
  collect(tokenizerJson.decoder);
  collect(tokenizerJson.pre_tokenizer);
  if (types.has('ByteLevel')) return 'byte-level';
  if (types.has('Metaspace') || types.has('ByteFallback')) return 'metaspace';
  return 'other';
}

/** The bytes a vocabulary token stands for, or undefined when its spelling is not understood. */
export function pieceToBytes(piece: string, style: PieceStyle): number[] | undefined {
  if (style === 'byte-level') {
    const table = unicodeToByte();
    const out: number[] = [];
    for (const ch of piece) {
      const b = table.get(ch);
      if (b === undefined) return undefined;
      out.push(b);
    }
    return out;
  }
  if (style === 'metaspace') {
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (m) return [parseInt(m[1], 16)];
    return Array.from(utf8Bytes(piece.replaceAll('\u2581', ' ')));
  }
  return undefined;
}
