// The reference model's log-probabilities, which DPO-like stages compare the policy with. Under LoRA
// the reference is the base model: the same weights with the adapter left out (TRL's
// `disable_adapter()`), or with a continued adapter's frozen starting copy (TRL's "ref" adapter),
// computed when a micro-batch first needs it. Under full fine-tuning the
// weights being trained are the only copy, so the reference log-probs of every example the run will
// see are computed from the starting weights before the first step (TRL's precompute_ref_log_probs),
// which also costs no second model in memory. The reference is fixed (no dropout), so caching each
// example's values changes nothing but the time.
import type { LinearAdapter, LlamaModel } from './model.ts';
import { sequenceBatch, sequenceLogProbs, type ScoredSequence } from './logprobs.ts';

export class ReferenceLogProbs {
  private readonly values = new Map<number, Float64Array>();

  /** `sequencesOf(i)`: the sequences of example i whose summed completion log-probs are wanted. */
  constructor(
    private readonly model: LlamaModel,
    private readonly sequencesOf: (i: number) => ScoredSequence[],
    private readonly padId: number,
    private readonly batchSize: number,
    /** The reference's adapter (a continued adapter's frozen start); absent: the base model. */
    private readonly adapter?: LinearAdapter,
  ) {}

  /** Computes the values of the examples in `indices` not computed yet, `batchSize` examples per pass. */
  ensure(indices: Iterable<number>): void {
    const missing = [...new Set(indices)].filter((i) => !this.values.has(i));
    for (let k = 0; k < missing.length; k += this.batchSize) {
      const chunk = missing.slice(k, k + this.batchSize);
      const seqs = chunk.map((i) => this.sequencesOf(i));
      const sums = sequenceLogProbs(this.model, sequenceBatch(seqs.flat(), this.padId), this.adapter);
      let at = 0;
      chunk.forEach((i, j) => {
        this.values.set(i, sums.slice(at, at + seqs[j]!.length));
        at += seqs[j]!.length;
      });
    }
  }

  /** Example i's values, one per sequence (ensure() first). */
  get(i: number): Float64Array {
    const v = this.values.get(i);
    if (!v) throw new Error(`reference log-probs of example ${i} were not computed`);
    return v;
  }

  get size(): number {
    return this.values.size;
  }
}
