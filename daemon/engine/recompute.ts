// Gradient checkpointing (transformers' `gradient_checkpointing`): a decoder layer becomes one op that
// keeps only its input for the backward pass, and the backward pass runs the layer again from that
// input, under a tape of its own, to get the layer's gradients. Autodiff otherwise keeps every
// intermediate of every layer until the backward pass reaches it (most of a training step's memory
// at batch 4 x 512); this keeps one [N, hidden] input per layer plus one layer's intermediates at a
// time, for about one more forward pass per step.
import * as tf from '@tensorflow/tfjs-core';

/**
 * `f(x)` as one op whose backward pass recomputes `f` from the saved `x`.
 *
 * `variables` are the trainable tensors `f` reads (its layer's weights, or the layer's LoRA A/B):
 * they become explicit inputs of the op, because the op's forward pass runs with the tape off, so a
 * variable read only inside it would get no gradient; passed as inputs, each gets exactly the one
 * gradient the recomputation finds. `f` must read no other tensor made before the op (the engine
 * frees those before the backward pass): per-pass constants it builds itself from host data, and
 * anything random in it must be keyed so that a second run draws the same (LoRA dropout is).
 */
export function recomputed(f: (x: tf.Tensor2D) => tf.Tensor2D, x: tf.Tensor2D, variables: tf.Variable[]): tf.Tensor2D {
  const op = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor2D;
    (args[args.length - 1] as tf.GradSaveFunc)([input]);
    return {
      value: f(input),
      // tfjs calls a gradient function outside any tidy; the recomputation's tensors go at once.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => replay(f, saved[0] as tf.Tensor2D, variables, dy)),
    };
  }) as Parameters<typeof tf.customGrad<tf.Tensor2D>>[0]);
  return op(x, ...variables);
}

/** Gradients of `f` at `x` w.r.t. `x` and `variables`, given the output's gradient `dy`. */
function replay(f: (x: tf.Tensor2D) => tf.Tensor2D, x: tf.Tensor2D, variables: tf.Variable[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine();
  // We run inside the backward pass of an outer tf.variableGrads, whose recording has ended; a new
  // engine.gradients there starts a fresh tape and sets it to null when done, while the outer pass
  // still needs its tape afterwards to free the tensors its ops saved. So the outer tape is put back.
  const outer = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(() => f(x), [x, ...variables], dy, true);
    value.dispose();
    // A variable the layer did not use this pass (none today) gets zeros, as the op owes one per input.
    return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? x : variables[i - 1]!));
  } finally {
    engine.state.activeTape = outer;
  }
}

/**
 * The trainable variables named under `prefix` (a layer's, e.g. `model.layers.3.`) in each map: the
 * model's weights (left out when the base is frozen) and an adapter's.
 */
export function variablesUnder(prefix: string, ...maps: (Map<string, tf.Variable> | undefined)[]): tf.Variable[] {
  const out: tf.Variable[] = [];
  for (const map of maps) for (const [name, v] of map ?? []) if (v.trainable && name.startsWith(prefix)) out.push(v);
  return out;
}
