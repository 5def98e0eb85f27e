// The objective shape the preference stages and reward modelling share: each micro-batch's loss is a
// mean over its examples, divided by the number of micro-batches in the optimizer step (transformers'
// Trainer divides by the accumulation steps for these trainers), its metrics recorded as they come,
// and evaluation the mean of the eval batches' losses and metrics (TRL's eval loop). A stage supplies
// how a batch of its items becomes a loss (and any work outside the gradient, done in `prepare`).
import * as tf from '@tensorflow/tfjs-core';
import type { EpochOrder } from '../data.ts';
import type { MetricsWindow } from '../metrics.ts';
import type { Objective } from './stage.ts';

export interface PreparedBatch {
  /** Non-padding tokens the batch feeds the model. */
  tokens: number;
  /** The batch's mean loss times `scale`, its metrics into `out`; run under tf.variableGrads or tf.tidy. */
  loss(scale: number, out: Map<string, number>, checkpointLayers: boolean): tf.Scalar;
}

export interface MeanLossSpec<T> {
  train: EpochOrder<T>;
  eval: EpochOrder<T> | null;
  /** Turns a batch into a loss; reference log-probs and the like are computed here, outside the gradient. */
  prepare(batch: { items: T[]; indices: number[] }, split: 'train' | 'eval'): PreparedBatch;
  checkpointLayers: boolean;
  head?: Objective['head'];
  dispose?(): void;
}

function record(window: MetricsWindow, out: Map<string, number>): void {
  for (const [k, v] of out) window.add(k, v);
}

export function meanLossObjective<T>(spec: MeanLossSpec<T>): Objective {
  return {
    ...(spec.head ? { head: spec.head } : {}),
    hasEval: spec.eval !== null,
    normaliser: (step) => step.length,
    micro(mb, normaliser) {
      const batch = spec.prepare(spec.train.batchAt(mb.epoch, mb.index), 'train');
      const out = new Map<string, number>();
      return {
        tokens: batch.tokens,
        loss: () => batch.loss(1 / normaliser, out, spec.checkpointLayers),
        record: (window) => record(window, out),
      };
    },
    evaluate(window) {
      for (let i = 0; i < spec.eval!.perEpoch; i++) {
        const batch = spec.prepare(spec.eval!.batchAt(0, i), 'eval');
        const out = new Map<string, number>();
        window.add('loss', tf.tidy(() => batch.loss(1, out, false).dataSync()[0]!));
        record(window, out);
      }
    },
    dispose: () => spec.dispose?.(),
  };
}
