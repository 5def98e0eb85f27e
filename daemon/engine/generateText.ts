// `anneal generate`: one prompt answered by a model (a run's output, an adapter, a model folder, a Hub
// id, `tiny`) through its chat template, for a quick look at what a run learned.
import type { Turns } from '../../core/datasets/types.ts';
import type { GenerateResult as AnsweredText } from '../../core/protocol/generate.ts';
import { Rng } from './rng.ts';
import { stopIds } from './rollout.ts';
import { generate } from './sample.ts';
import { openScoringModel } from './scoringModel.ts';

export interface GenerateJob {
  model: string;
  /** The user's message, or a conversation. */
  prompt: Turns;
  maxNewTokens?: number;
  /** 0 (default): greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
}

/** What the engine answers (the daemon's `models/generate` adds where the model came from). */
export type GenerateResult = Pick<AnsweredText, 'completion' | 'tokens' | 'stopped' | 'description'>;

export async function generateText(job: GenerateJob, signal?: AbortSignal): Promise<GenerateResult> {
  const scoring = await openScoringModel(job.model, job.seed ?? 42, signal);
  try {
    const tok = scoring.tokenizer;
    const stop = stopIds(tok);
    const ids = generate(scoring.model, tok.encodePrompt(job.prompt), {
      maxNewTokens: job.maxNewTokens ?? 128,
      temperature: job.temperature ?? 0,
      topP: job.topP ?? 1,
      stopIds: stop,
      keepStop: true,
      rng: new Rng(job.seed ?? 42),
      adapter: scoring.lora ?? undefined,
    });
    const stopped = ids.length > 0 && stop.includes(ids.at(-1)!);
    return { completion: tok.decode(ids.filter((id) => !stop.includes(id)), { skipSpecial: true }), tokens: ids.length, stopped, description: scoring.description };
  } finally {
    scoring.dispose();
  }
}
