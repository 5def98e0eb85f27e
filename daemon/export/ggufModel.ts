// A merged Llama-family model as GGUF tensors and `{arch}.*` metadata for llama.cpp: Hugging Face
// tensor names become llama.cpp's (`model.layers.N.self_attn.q_proj.weight` -> `blk.N.attn_q.weight`),
// and Llama/Mistral q/k rows are reordered within each head for llama.cpp's RoPE, which rotates
// neighbouring pairs where Hugging Face rotates halves (daemon/engine/gguf.ts undoes the same reorder
// when it reads a GGUF). The inverse of engine/gguf.ts's hfTensorName/ggufConfig.
import { headDim, type LlamaConfig, type ModelConfig } from '../engine/modelConfig.ts';
import type { NamedTensor } from '../engine/safetensors.ts';
import { gv, type GgufTensorSpec, type GgufValue } from './ggufWriter.ts';
import { encodedSize, encodeTensor, placeTensors, type QuantType } from './ggufQuant.ts';

/** Hugging Face model_type -> GGUF general.architecture (llama.cpp runs Mistral as llama). */
const GGUF_ARCH: Record<string, string> = { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3' };

/** Hugging Face module names (after `model.layers.N.`) -> llama.cpp's. */
const LAYER_NAMES: Record<string, string> = {
  input_layernorm: 'attn_norm',
  post_attention_layernorm: 'ffn_norm',
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'self_attn.q_norm': 'attn_q_norm',
  'self_attn.k_norm': 'attn_k_norm',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

const TOP_NAMES: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

/** llama.cpp's name for a Hugging Face tensor name, or undefined for one it has no place for. */
export function ggufTensorName(name: string): string | undefined {
  if (TOP_NAMES[name]) return TOP_NAMES[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  const mapped = m ? LAYER_NAMES[m[2]!] : undefined;
  return mapped ? `blk.${m![1]}.${mapped}.${m![3]}` : undefined;
}

/** The GGUF architecture for `config`, or a one-sentence refusal. */
export function ggufArchitecture(config: ModelConfig): string {
  const arch = GGUF_ARCH[config.model_type];
  if (!arch) throw new Error(`GGUF export writes Llama, Mistral, Qwen2 and Qwen3 models; this is a ${config.model_type} model. Export --format merged and convert it with llama.cpp's converter.`);
  const c = config as LlamaConfig;
  if (c.rope_scaling && c.rope_scaling.rope_type !== 'linear') {
    throw new Error(`GGUF export does not write ${c.rope_scaling.rope_type} RoPE scaling yet (only linear); export --format merged and convert it with llama.cpp's converter.`);
  }
  if (c.attention_bias && arch === 'llama') throw new Error('GGUF export does not write a Llama with attention biases; export --format merged instead.');
  if (c.mlp_bias) throw new Error('GGUF export does not write MLP biases; export --format merged instead.');
  return arch;
}

/**
 * Hugging Face row `j * half + i` of each head goes to row `2 * i + j`: the order llama.cpp's
 * "normal" RoPE expects (it rotates element pairs (2i, 2i+1); Hugging Face rotates (i, i + half)).
 */
export function permuteRows(data: Float32Array, rows: number, rowLength: number, heads: number): Float32Array {
  const perHead = rows / heads;
  const half = perHead / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * perHead + j * half + i) * rowLength;
        const to = (h * perHead + 2 * i + j) * rowLength;
        out.set(data.subarray(from, from + rowLength), to);
      }
    }
  }
  return out;
}

/** The `{arch}.*` and `general.*` keys llama.cpp reads for this model. */
export function ggufModelMetadata(config: ModelConfig, quant: QuantType, name: string): Map<string, GgufValue> {
  const arch = ggufArchitecture(config);
  const c = config as LlamaConfig;
  const hd = headDim(c);
  const meta = new Map<string, GgufValue>([
    ['general.architecture', gv.str(arch)],
    ['general.name', gv.str(name)],
    ['general.file_type', gv.u32(quant.fileType)],
    ['general.quantization_version', gv.u32(2)],
    [`${arch}.vocab_size`, gv.u32(c.vocab_size)],
    [`${arch}.context_length`, gv.u32(c.max_position_embeddings)],
    [`${arch}.embedding_length`, gv.u32(c.hidden_size)],
    [`${arch}.block_count`, gv.u32(c.num_hidden_layers)],
    [`${arch}.feed_forward_length`, gv.u32(c.intermediate_size)],
    [`${arch}.attention.head_count`, gv.u32(c.num_attention_heads)],
    [`${arch}.attention.head_count_kv`, gv.u32(c.num_key_value_heads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gv.f32(c.rms_norm_eps)],
    [`${arch}.rope.freq_base`, gv.f32(c.rope_theta)],
    [`${arch}.rope.dimension_count`, gv.u32(hd)],
  ]);
  if (hd * c.num_attention_heads !== c.hidden_size) {
    meta.set(`${arch}.attention.key_length`, gv.u32(hd));
    meta.set(`${arch}.attention.value_length`, gv.u32(hd));
  }
  if (c.rope_scaling?.rope_type === 'linear') {
    meta.set(`${arch}.rope.scaling.type`, gv.str('linear'));
    meta.set(`${arch}.rope.scaling.factor`, gv.f32(c.rope_scaling.factor));
  }
  return meta;
}

/**
 * The tensors in llama.cpp's order (embedding, blocks, final norm, head), each encoded under `quant`
 * when the writer reaches it, and the matrices stored in a stand-in type because their rows are not
 * whole blocks of the asked one. A tied model has no `output.weight`: llama.cpp then reuses the embedding.
 */
export function ggufTensors(config: ModelConfig, weights: Map<string, NamedTensor>, quant: QuantType): { tensors: GgufTensorSpec[]; fellBack: { name: string; type: number }[] } {
  const arch = ggufArchitecture(config);
  const c = config as LlamaConfig;
  const permute = arch === 'llama';
  const order = (name: string) => {
    const m = /^model\.layers\.(\d+)\./.exec(name);
    if (name === 'model.embed_tokens.weight') return -1;
    if (m) return Number(m[1]);
    return name === 'model.norm.weight' ? 1e9 : 1e9 + 1;
  };
  const names = [...weights.keys()].filter((n) => !(n === 'lm_head.weight' && c.tie_word_embeddings)).sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const named = names.map((hf) => {
    const name = ggufTensorName(hf);
    if (!name) throw new Error(`The model has a tensor ${hf} that a ${arch} GGUF has no place for; export --format merged instead.`);
    return { hf, name, shape: weights.get(hf)!.shape };
  });
  const placed = placeTensors(named, quant);
  const fellBack: { name: string; type: number }[] = [];
  const tensors = named.map(({ hf, name }): GgufTensorSpec => {
    const t = weights.get(hf)!;
    const { type, fellBack: fb } = placed.get(name)!;
    if (fb) fellBack.push({ name, type });
    const heads = !permute ? 0 : /self_attn\.q_proj\.weight$/.test(hf) ? c.num_attention_heads : /self_attn\.k_proj\.weight$/.test(hf) ? c.num_key_value_heads : 0;
    return {
      name,
      shape: t.shape,
      type,
      byteLength: encodedSize(type, t.data.length),
      encode: () => encodeTensor(heads ? permuteRows(t.data, t.shape[0]!, t.shape[1]!, heads) : t.data, type),
    };
  });
  return { tensors, fellBack };
}
