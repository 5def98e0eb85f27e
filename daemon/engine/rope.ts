// Rotary position embeddings as transformers computes them (modeling_rope_utils): the inverse
// frequencies for a config's rope type, and the factor the cos/sin tables are multiplied by (yarn's
// attention scaling; 1 for the others). Steps torch runs in float32 are rounded to float32 here
// (Math.fround), so the tables match its to the last bit or two even at long positions.
import { headDim, type LlamaConfig } from './modelConfig.ts';

const f32 = Math.fround;

export interface RopeFrequencies {
  /** [head_dim / 2] */
  invFreq: Float32Array;
  /** Multiplies cos and sin (yarn's mscale); 1 for the other types. */
  attentionScaling: number;
}

/** `1 / base ** (arange(0, dim, 2).float() / dim)` in float32. */
function plainInvFreq(base: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  const b = f32(base);
  for (let i = 0; i < out.length; i++) out[i] = f32(1 / f32(Math.pow(b, f32((2 * i) / dim))));
  return out;
}

/**
 * The inverse frequencies and cos/sin scale for `c`. `seqLen` matters only to `dynamic` (NTK-aware)
 * scaling, which raises the base once a sequence outgrows max_position_embeddings; transformers uses
 * max(position) + 1 of the current forward pass.
 */
export function ropeFrequencies(c: LlamaConfig, seqLen = 0): RopeFrequencies {
  const dim = headDim(c);
  const base = c.rope_theta;
  const s = c.rope_scaling;
  if (!s) return { invFreq: plainInvFreq(base, dim), attentionScaling: 1 };
  switch (s.rope_type) {
    case 'linear': {
      // Dividing the frequencies is dividing the positions: position p is treated as p / factor.
      const inv = plainInvFreq(base, dim);
      for (let i = 0; i < inv.length; i++) inv[i] = f32(inv[i]! / f32(s.factor));
      return { invFreq: inv, attentionScaling: 1 };
    }
    case 'dynamic': {
      const max = c.max_position_embeddings;
      const len = Math.max(seqLen, max);
      const scaled = base * Math.pow((s.factor * len) / max - (s.factor - 1), dim / (dim - 2));
      return { invFreq: plainInvFreq(scaled, dim), attentionScaling: 1 };
    }
    case 'yarn':
      return yarn(c, dim);
    case 'llama3':
      return { invFreq: llama3(c, dim), attentionScaling: 1 };
  }
}

/**
 * YaRN (Peng et al. 2023): dimensions that turn many times over the original context keep their
 * frequency (extrapolate), slow ones are divided by factor (interpolate), a linear ramp blends the
 * band between; cos/sin are scaled up to keep attention entropy.
 */
function yarn(c: LlamaConfig, dim: number): RopeFrequencies {
  const s = c.rope_scaling!;
  const base = c.rope_theta;
  const factor = s.factor;
  const original = s.original_max_position_embeddings!;
  const mscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  const attention = s.attention_factor ?? (s.mscale && s.mscale_all_dim ? mscale(factor, s.mscale) / mscale(factor, s.mscale_all_dim) : mscale(factor));
  // Zero means unset here, as transformers' `or` does.
  const betaFast = s.beta_fast || 32;
  const betaSlow = s.beta_slow || 1;
  const correctionDim = (rotations: number): number => (dim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (s.truncate ?? true) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // keeps the ramp finite
  const inv = new Float32Array(dim / 2);
  const b = f32(base);
  for (let i = 0; i < inv.length; i++) {
    const pos = f32(Math.pow(b, f32((2 * i) / dim)));
    const extrapolated = f32(1 / pos);
    const interpolated = f32(1 / f32(f32(factor) * pos));
    const ramp = Math.min(1, Math.max(0, f32(f32(i - f32(low)) / f32(high - low))));
    const keep = f32(1 - ramp);
    inv[i] = f32(f32(interpolated * f32(1 - keep)) + f32(extrapolated * keep));
  }
  return { invFreq: inv, attentionScaling: attention };
}

/**
 * Llama 3.1's scaling: wavelengths shorter than original/high_freq_factor stay, longer than
 * original/low_freq_factor are divided by factor, and the band between is interpolated smoothly.
 */
function llama3(c: LlamaConfig, dim: number): Float32Array {
  const s = c.rope_scaling!;
  const factor = s.factor;
  const lowFactor = s.low_freq_factor!;
  const highFactor = s.high_freq_factor!;
  const original = s.original_max_position_embeddings!;
  const lowWavelen = f32(original / lowFactor);
  const highWavelen = f32(original / highFactor);
  const inv = plainInvFreq(c.rope_theta, dim);
  for (let i = 0; i < inv.length; i++) {
    const wavelen = f32(f32(2 * Math.PI) / inv[i]!);
    const scaled = wavelen > lowWavelen ? f32(inv[i]! / f32(factor)) : inv[i]!;
    if (wavelen < highWavelen || wavelen > lowWavelen) {
      inv[i] = scaled;
      continue;
    }
    const smooth = f32(f32(f32(f32(original) / wavelen) - f32(lowFactor)) / f32(highFactor - lowFactor));
    inv[i] = f32(f32(f32(f32(1 - smooth) * scaled) / f32(factor)) + f32(smooth * scaled));
  }
  return inv;
}

/** cos/sin rows by position for one config (and one dynamic length), grown as longer positions come. */
interface Table {
  seqKey: number;
  freq: RopeFrequencies;
  rows: number;
  cos: Float32Array;
  sin: Float32Array;
}

// Configs are never mutated after normalizeConfig, so the config object can key its tables.
const tables = new WeakMap<LlamaConfig, Table>();

function fillRows(t: Table, hd: number, from: number, to: number): void {
  const half = hd / 2;
  const scale = f32(t.freq.attentionScaling);
  for (let p = from; p < to; p++) {
    for (let i = 0; i < half; i++) {
      const a = f32(p * t.freq.invFreq[i]!);
      const c = f32(f32(Math.cos(a)) * scale);
      const s = f32(f32(Math.sin(a)) * scale);
      t.cos[p * hd + i] = c;
      t.cos[p * hd + i + half] = c;
      t.sin[p * hd + i] = s;
      t.sin[p * hd + i + half] = s;
    }
  }
}

/**
 * HF's rotary tables for `positions`: cos/sin of position * inv_freq, duplicated over both halves of
 * the head and multiplied by the attention scaling; [N, head_dim] each.
 */
export function ropeTables(c: LlamaConfig, positions: Int32Array): { cos: Float32Array; sin: Float32Array } {
  const hd = headDim(c);
  let maxPos = 0;
  for (const p of positions) maxPos = Math.max(maxPos, p);
  // Dynamic scaling past max_position_embeddings depends on the length; everything else does not.
  const seqKey = c.rope_scaling?.rope_type === 'dynamic' && maxPos + 1 > c.max_position_embeddings ? maxPos + 1 : 0;
  let t = tables.get(c);
  if (!t || t.seqKey !== seqKey) {
    t = { seqKey, freq: ropeFrequencies(c, seqKey), rows: 0, cos: new Float32Array(0), sin: new Float32Array(0) };
    tables.set(c, t);
  }
  if (maxPos >= t.rows) {
    const rows = Math.max(maxPos + 1, seqKey ? 0 : 2 * t.rows);
    const cos = new Float32Array(rows * hd);
    const sin = new Float32Array(rows * hd);
    cos.set(t.cos);
    sin.set(t.sin);
    const from = t.rows;
    Object.assign(t, { rows, cos, sin });
    fillRows(t, hd, from, rows);
  }
  const cos = new Float32Array(positions.length * hd);
  const sin = new Float32Array(positions.length * hd);
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n]!;
    cos.set(t.cos.subarray(p * hd, (p + 1) * hd), n * hd);
    sin.set(t.sin.subarray(p * hd, (p + 1) * hd), n * hd);
  }
  return { cos, sin };
}
