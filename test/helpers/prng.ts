// A seeded PRNG for tests and benchmarks, so generated data and failures reproduce. (The engine's
// own generator is daemon/engine/rng.ts; this one is only for making test input.)

/** Deterministic PRNG (mulberry32): a function returning floats in [0, 1). */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
