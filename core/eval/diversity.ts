// Distinct-n (Li et al. 2016): the share of a set of completions' n-grams that are unique, over all of
// them together. 1 means no n-gram repeats; a model that says the same thing to every prompt drifts
// toward 0 (seed 004 rolls DPO back below distinct-2 = 0.3). Counted on token ids, so it works for
// any language and script.

/** Unique n-grams / all n-grams over `sequences`; undefined when none is n tokens long. */
export function distinctN(sequences: readonly (readonly number[])[], n: number): number | undefined {
  const seen = new Set<string>();
  let total = 0;
  for (const seq of sequences) {
    for (let i = 0; i + n <= seq.length; i++) {
      seen.add(seq.slice(i, i + n).join(','));
      total++;
    }
  }
  return total === 0 ? undefined : seen.size / total;
}
