// Scores every pair of a preference file with a model, for the pair inspector ("which pairs does the
// model think are backwards?"). Two kinds of model:
//  - a reward model (a reward run's output: a SEQ_CLS adapter with its score head, or a
//    *ForSequenceClassification folder): chosen and rejected get their scalar rewards;
//  - a policy trained from a base (a DPO or SFT run's output adapter): DPO's implicit reward,
//    beta * (log pi(y|x) - log pi_ref(y|x)), with the base (adapter off) as the reference.
// A pair's margin is chosen minus rejected; a negative margin means the model prefers the rejected
// answer: a mislabelled pair, or one the model has not learnt.
import { selectBackend } from './backend.ts';
import { sequenceLogProbs } from './logprobs.ts';
import { loadPairs } from './preferenceData.ts';
import { sequenceRewards } from './scoreHead.ts';
import { openScoringModel } from './scoringModel.ts';
import { pairRows } from './stages/pairStage.ts';

export interface ScorePairsJob {
  /** A run's output folder (adapter or model), a PEFT adapter folder, or a reward model folder. */
  model: string;
  /** The preference file (JSONL) to score. */
  data: string;
  /** Implicit reward scale (DPO's beta; default 0.1). */
  beta?: number;
  maxLength?: number;
  backend?: string;
  /** The built-in `tiny` base is drawn from the run's seed: give the seed it trained with (default 42, TRL's). */
  seed?: number;
}

export interface PairScore {
  /** The pair's line in the file (0-based). */
  line: number;
  chosen: number;
  rejected: number;
  /** chosen - rejected: below 0 when the model prefers the rejected answer. */
  margin: number;
}

export interface ScorePairsResult {
  kind: 'reward-model' | 'implicit-reward';
  /** What was loaded, in words (for the inspector's header). */
  description: string;
  scores: PairScore[];
  /** Pairs not scored: their prompt alone fills maxLength. */
  skipped: number;
}

const PAIRS_PER_PASS = 4;

export async function scorePairs(job: ScorePairsJob, progress: (done: number, total: number) => void = () => {}, signal?: AbortSignal): Promise<ScorePairsResult> {
  await selectBackend(job.backend);
  const scoring = await openScoringModel(job.model, job.seed ?? 42, signal);
  const { model, lora, head, baseRef } = scoring;
  try {
    if (!head && !lora) {
      throw new Error(`${job.model} is a plain model: it has no score head (train one with the reward stage) and no adapter to compare with its base (give a DPO or SFT run's output), so there is nothing to score pairs with.`);
    }
    const maxLength = Math.min(job.maxLength ?? 1024, scoring.config.max_position_embeddings);
    const set = loadPairs(job.data, scoring.tokenizer, { max_length: maxLength }, { stage: 'dpo', overLength: 'truncate' });
    const beta = job.beta ?? 0.1;
    const padId = scoring.tokenizer.padId;
    const scores: PairScore[] = [];
    for (let i = 0; i < set.pairs.length; i += PAIRS_PER_PASS) {
      if (signal?.aborted) throw new Error('Scoring was cancelled.');
      const pairs = set.pairs.slice(i, i + PAIRS_PER_PASS);
      const b = pairRows(pairs, padId);
      let values: ArrayLike<number>;
      if (head) values = sequenceRewards(model, lora ?? undefined, head, b, padId);
      else {
        const policy = sequenceLogProbs(model, b, lora!);
        const reference = sequenceLogProbs(model, b);
        values = Array.from(policy, (v, k) => beta * (v - reference[k]!));
      }
      pairs.forEach((p, k) => {
        const chosen = values[k]!;
        const rejected = values[pairs.length + k]!;
        scores.push({ line: p.line, chosen, rejected, margin: chosen - rejected });
      });
      progress(Math.min(set.pairs.length, i + PAIRS_PER_PASS), set.pairs.length);
      await new Promise((r) => setImmediate(r));
    }
    const description = head
      ? scoring.description
      : `implicit reward of ${job.model} against its base ${baseRef} (beta ${beta})`;
    return { kind: head ? 'reward-model' : 'implicit-reward', description, scores, skipped: set.dropped };
  } finally {
    scoring.dispose();
  }
}
