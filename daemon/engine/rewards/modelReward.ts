// A trained reward model as a GRPO reward function (TRL accepts a reward model among reward_funcs):
// each prompt + completion is rendered with the reward model's own tokenizer (it need not share the
// policy's) and scored by its head at the last token, as the reward stage trained it. Frozen; it
// loads once per run, next to the policy.
import type { Turns } from '../../../core/datasets/types.ts';
import { sequenceBatch } from '../logprobs.ts';
import { sequenceRewards } from '../scoreHead.ts';
import { openScoringModel, type ScoringModel } from '../scoringModel.ts';

/** Rows scored per forward pass: bounded so a large generation batch stays within memory. */
const ROWS_PER_PASS = 8;

export class ModelReward {
  private constructor(private readonly scoring: ScoringModel) {}

  /** Opens `ref` (a reward run's output, a reward-model folder or Hub id); refuses a model without a score head. */
  static async load(ref: string, seed: number, signal?: AbortSignal): Promise<ModelReward> {
    const scoring = await openScoringModel(ref, seed, signal);
    if (!scoring.head) {
      scoring.dispose();
      throw new Error(`${ref} has no score head, so it cannot be a reward: give the output of a reward run (stage: reward) or a *ForSequenceClassification model.`);
    }
    return new ModelReward(scoring);
  }

  get description(): string {
    return this.scoring.description;
  }

  /** One reward per (prompt, completion), the completion as text (a conversation's assistant turn). */
  score(prompts: Turns[], completions: Turns[]): number[] {
    const { tokenizer, config, model, lora, head } = this.scoring;
    const context = config.max_position_embeddings;
    const seqs = prompts.map((prompt, i) => {
      const ids = tokenizer.encodeRecord({ format: 'prompt-completion', prompt, completion: completions[i]! }).ids;
      return { ids: Int32Array.from(ids.slice(0, context)), completionStart: 0 };
    });
    const out: number[] = [];
    for (let i = 0; i < seqs.length; i += ROWS_PER_PASS) {
      const batch = sequenceBatch(seqs.slice(i, i + ROWS_PER_PASS), tokenizer.padId);
      out.push(...sequenceRewards(model, lora ?? undefined, head!, batch, tokenizer.padId));
    }
    return out;
  }

  close(): void {
    this.scoring.dispose();
  }
}
