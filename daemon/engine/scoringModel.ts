// A trained model opened to score text rather than to train: a reward model (a reward run's output:
// a SEQ_CLS adapter with its score head, or a *ForSequenceClassification folder) or a policy adapter
// whose implicit reward is measured against its base. The pair inspector's scoring (scorePairs.ts)
// and GRPO/PPO's reward-model rewards (rewards/modelReward.ts) open models here, one way.
import * as tf from '@tensorflow/tfjs-core';
import { adapterBaseModel } from '../../core/modelRef.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import type { ChatTokenizer } from '../../core/tokenize/index.ts';
import { resolveModel } from '../models/hub.ts';
import type { LoraAdapter } from './lora.ts';
import { createModel, disposeModel, ownedVariable, type LlamaModel } from './model.ts';
import type { ModelConfig } from './modelConfig.ts';
import { openModelSource } from './modelSource.ts';
import { isPeftAdapter, loadPeftAdapter, readPeftAdapter } from './peftAdapter.ts';

export interface ScoringModel {
  model: LlamaModel;
  config: ModelConfig;
  tokenizer: ChatTokenizer;
  /** The adapter on the base, when `ref` was an adapter folder. */
  lora: LoraAdapter | null;
  /** The scalar `score` head [1, hidden], when the model is a reward model. */
  head: tf.Tensor2D | null;
  /** What was loaded, in words: "reward model R (adapter on B)". */
  description: string;
  /** The base model `ref` resolved to (the adapter's base for an adapter). */
  baseRef: string;
  dispose(): void;
}

/**
 * Opens `ref` (a run's output, a PEFT adapter folder, a model folder, a Hub id) frozen. The built-in
 * `tiny` base is drawn from `seed`: give the seed the model was trained with.
 */
export async function openScoringModel(ref: string, seed: number, signal?: AbortSignal): Promise<ScoringModel> {
  const resolved = await resolveModel(ref, { signal });
  let adapterDir: string | null = null;
  let baseRef = resolved.dir;
  if (resolved.dir !== 'tiny' && isPeftAdapter(resolved.dir)) {
    adapterDir = resolved.dir;
    baseRef = (await resolveModel(adapterBaseModel(resolved.dir, nodeFiles), { signal })).dir;
  }
  const source = await openModelSource(baseRef, seed);
  const model = createModel(source.config, source.weights, false);
  source.weights.clear();
  let lora: LoraAdapter | null = null;
  let head: tf.Variable | null = null;
  if (adapterDir) {
    const loaded = loadPeftAdapter(model, readPeftAdapter(adapterDir), 0, adapterDir);
    lora = loaded.lora;
    head = loaded.head?.get('score.weight') ?? null;
  } else if (source.head) {
    const s = source.head.get('score.weight')!;
    head = ownedVariable(tf.tensor2d(s.data, s.shape as [number, number]), false);
  }
  return {
    model,
    config: source.config,
    tokenizer: source.tokenizer,
    lora,
    head: head as tf.Tensor as tf.Tensor2D | null,
    description: `${head ? 'reward model' : 'model'} ${ref}${adapterDir ? ` (adapter on ${baseRef})` : ''}`,
    baseRef,
    dispose() {
      lora?.dispose();
      head?.dispose();
      disposeModel(model);
    },
  };
}
