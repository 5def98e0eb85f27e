// The LM head and its losses, a chunk of rows at a time so the [positions, vocab] logits are never all
// held at once: SFT's token cross-entropy (nll or TRL's dft), per-token log-probs with their statistics
// (the preference and RL stages), and the plain cross-entropy over given logits.

import * as tf from '@tensorflow/tfjs-core';
import { custom, flagsAreFree, mm, mm2, recordingGradients, t2, weightGrad } from './ops.ts';

/** SFT token losses: "nll" is -log p(y); "dft" (TRL's dft_loss) is -p(y) * log p(y), p(y) detached. */
export type SftLossType = 'nll' | 'dft';

/**
 * Sum over rows of weight[i] * -log softmax(logits[i])[label[i]] for logits [N, V].
 * Rows with weight 0 contribute nothing to value or gradient (that is the loss mask).
 * `dft` multiplies each row's term by p(label) as a constant: the gradient is the NLL gradient
 * scaled by p(label), with no term through p itself, which is what TRL's `.detach()` gives.
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D, lossType: SftLossType = 'nll'): tf.Scalar {
  const [n, vocab] = logits.shape;
  const f = custom<tf.Scalar>(1, ([z], save) => {
    const zmax = tf.max(z!, 1, true);
    const shifted = tf.sub(z!, zmax);
    const lse = tf.log(tf.sum(tf.exp(shifted), 1)); // [N]
    const picked = tf.gather(tf.reshape(shifted, [-1]), tf.add(tf.range(0, n * vocab, vocab, 'int32'), labels)); // [N]
    const nll = tf.sub(lse, picked);
    const w = lossType === 'dft' ? tf.mul(weights, tf.exp(tf.neg(nll))) : weights;
    const value = tf.sum(tf.mul(nll, w)) as tf.Scalar;
    save([z!, labels, w]);
    return {
      value,
      gradFunc: (dy, saved) => {
        const [zs, ls, ws] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
        const g = tf.sub(tf.softmax(zs), tf.cast(tf.oneHot(ls, vocab), 'float32'));
        return [tf.mul(g, tf.mul(tf.reshape(ws, [n, 1]), dy))];
      },
    };
  });
  return f(logits);
}

/** Logits held at once by headCrossEntropy: rows per chunk = this / vocab (32 MB of float32). */
const HEAD_CHUNK_ELEMENTS = 8 * 2 ** 20;

/** Rows of logits headCrossEntropy makes at a time for a vocabulary of `vocab` tokens. */
export function headChunkRows(vocab: number, chunkElements = HEAD_CHUNK_ELEMENTS): number {
  return Math.max(1, Math.floor(chunkElements / vocab));
}

/** Per-row statistics headLogProbs can report from the logits it makes anyway (no gradient). */
export type TokenStat = 'correct' | 'entropy' | 'logitMean';

/**
 * The LM head and per-token log-probabilities in one op, chunked over rows: equals
 * log_softmax(hn @ head^T)[i, labels[i]] (TRL's selective_log_softmax) without ever holding the
 * [rows, vocab] logits (with 49k-152k vocabularies the largest tensors of a step: 4 x 512 positions
 * of SmolLM2 are 400 MB of logits, a few times over for softmax and gradient). Each chunk's logits
 * are made, used and dropped, and made again in the backward pass. `head` [vocab, hidden] gets a
 * gradient when it is a trainable variable (a tied embedding under full fine-tuning).
 * `want` asks for per-row statistics of the same logits, kept in `stats` for the caller to dispose:
 * `correct` (1 where the argmax is the label: mean_token_accuracy), `entropy` (nats) and
 * `logitMean` (the vocabulary-mean logit: TRL's logits/chosen). With a `temperature`, everything is
 * of the logits divided by it, as GRPO's log-probs of sampled completions are (TRL divides the
 * logits by the sampling temperature).
 */
export function headLogProbs(
  hn: tf.Tensor2D,
  head: tf.Tensor2D,
  labels: tf.Tensor1D,
  want: readonly TokenStat[] = [],
  stats: Partial<Record<TokenStat, tf.Tensor1D>> = {},
  chunkElements = HEAD_CHUNK_ELEMENTS,
  temperature = 1,
  gradientAhead = recordingGradients(),
): tf.Tensor1D {
  const [rows] = hn.shape;
  const [vocab] = head.shape;
  const trainHead = head instanceof tf.Variable && head.trainable;
  // A frozen head's input gradient is (onehot - softmax(z)) @ head / T, row-scaled by the incoming
  // gradient: all of it but that scale is known in the forward pass, where each chunk's logits exist
  // anyway. Computing it there spares the backward pass a second head product per chunk and its
  // softmax (the head is SmolLM2's largest product: ~5% of a LoRA step at 2 x 128), and what waits
  // for the backward pass is [rows, hidden], not logits. Only while a gradient is being recorded, and
  // not for a trainable head, whose weight gradient needs the incoming gradient inside the sum.
  const early = gradientAhead && !trainHead;
  const step = headChunkRows(vocab, chunkElements);
  const chunks: [number, number][] = [];
  for (let r = 0; r < rows; r += step) chunks.push([r, Math.min(rows, r + step)]);
  // On wasm the head is transposed once per pass, not once per chunk.
  const prepared = (w: tf.Tensor2D) => (flagsAreFree() ? w : t2(w));
  const raw = (x: tf.Tensor2D, w: tf.Tensor2D) => (flagsAreFree() ? mm2(x, w, false, true) : mm(x, w));
  const logitsOf = temperature === 1 ? raw : (x: tf.Tensor2D, w: tf.Tensor2D) => tf.div(raw(x, w), temperature) as tf.Tensor2D;
  const rowsOf = (t: tf.Tensor, [a, b]: [number, number]) => tf.slice(t, [a], [b - a]) as tf.Tensor1D;
  const f = custom<tf.Tensor1D>(trainHead ? 2 : 1, ([x, w], save) => {
    const wp = prepared((trainHead ? w! : head) as tf.Tensor2D);
    const parts: tf.Tensor[] = [];
    const inputGrads: tf.Tensor[] = [];
    const statParts = new Map<TokenStat, tf.Tensor[]>(want.map((k) => [k, []]));
    for (const c of chunks) {
      const results = tf.tidy(() => {
        const z = logitsOf(tf.slice(x!, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, wp);
        const ls = rowsOf(labels, c);
        const zmax = tf.max(z, 1, true);
        const shifted = tf.sub(z, zmax);
        const expShifted = tf.exp(shifted);
        const sumExp = tf.sum(expShifted, 1);
        const lse = tf.log(sumExp);
        const n = c[1] - c[0];
        const picked = tf.gather(tf.reshape(shifted, [-1]), tf.add(tf.range(0, n * vocab, vocab, 'int32'), ls));
        const out: tf.Tensor[] = [tf.sub(picked, lse)];
        if (early) {
          // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
          const g = tf.sub(tf.cast(tf.oneHot(ls, vocab), 'float32'), tf.div(expShifted, tf.reshape(sumExp, [-1, 1])));
          const gx = mm(g as tf.Tensor2D, head);
          out.push(temperature === 1 ? gx : tf.div(gx, temperature));
        }
        for (const k of want) {
          if (k === 'correct') out.push(tf.cast(tf.equal(tf.argMax(z, 1), ls), 'float32'));
          // -sum p log p = lse - sum p z, with z shifted (the shift cancels).
          else if (k === 'entropy') out.push(tf.sub(lse, tf.sum(tf.mul(tf.softmax(shifted), shifted), 1)));
          else out.push(tf.mean(z, 1));
        }
        return out;
      });
      parts.push(results[0]!);
      if (early) inputGrads.push(results[1]!);
      want.forEach((k, i) => statParts.get(k)!.push(results[i + (early ? 2 : 1)]!));
    }
    const join = (ts: tf.Tensor[]) => (ts.length === 0 ? tf.zeros([0]) : ts.length === 1 ? ts[0]! : tf.concat(ts)) as tf.Tensor1D;
    for (const [k, ts] of statParts) stats[k] = tf.keep(join(ts));
    // Labels made inside the caller's scope are gone by the backward pass unless saved.
    if (early) {
      const gx = inputGrads.length === 1 ? inputGrads[0]! : tf.concat(inputGrads);
      save([gx]);
      return { value: join(parts), gradFunc: (dy, saved) => [tf.mul(saved[0]!, tf.reshape(dy, [-1, 1]))] };
    }
    save([x!, labels]);
    return {
      value: join(parts),
      gradFunc: (dy, saved) => {
        const [xs, ls] = saved as [tf.Tensor2D, tf.Tensor1D];
        const weightNow = (trainHead ? w! : head) as tf.Tensor2D;
        const wpb = prepared(weightNow);
        const dx: tf.Tensor[] = [];
        let dw = null as tf.Tensor | null;
        for (const c of chunks) {
          // d log p(label) / dz = onehot(label) - softmax(z), times the incoming gradient of the row.
          const g = tf.tidy(() => {
            const z = logitsOf(tf.slice(xs, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, wpb);
            // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
            const onehot = tf.cast(tf.oneHot(rowsOf(ls, c), vocab), 'float32');
            // Through the division by the temperature too: d/dz_raw = (onehot - softmax(z)) / T.
            return tf.mul(tf.sub(onehot, tf.softmax(z)), tf.reshape(temperature === 1 ? rowsOf(dy, c) : tf.div(rowsOf(dy, c), temperature), [-1, 1])) as tf.Tensor2D;
          });
          dx.push(mm(g, weightNow));
          if (trainHead) {
            // Summed chunk by chunk, each partial freed at once: a [vocab, hidden] gradient per chunk adds up.
            const gw = tf.tidy(() => weightGrad(tf.slice(xs, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, g));
            const sum: tf.Tensor = dw ? tf.add(dw, gw) : gw;
            if (dw) {
              dw.dispose();
              gw.dispose();
            }
            dw = sum;
          }
          g.dispose();
        }
        const gradX = dx.length === 0 ? tf.zerosLike(xs) : dx.length === 1 ? dx[0]! : tf.concat(dx);
        if (trainHead && !dw) dw = tf.zerosLike(weightNow);
        return trainHead ? [gradX, dw!] : [gradX];
      },
    };
  });
  return trainHead ? f(hn, head) : f(hn);
}

/** The identity whose gradient is zero (torch's `.detach()`): a factor the loss holds constant. */
export const stopGradient = custom<tf.Tensor>(1, ([x]) => ({ value: tf.clone(x!), gradFunc: (dy) => [tf.zerosLike(dy)] }));

/**
 * The SFT loss from the head: sum of weights[i] * -log p(labels[i]) through headLogProbs (so never
 * all logits at once); `dft` scales each term by p(label) held constant, as TRL's dft_loss.
 * `correct` receives the count of rows whose argmax is the label (mean_token_accuracy).
 */
export function headCrossEntropy(
  hn: tf.Tensor2D,
  head: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
  lossType: SftLossType,
  out: { correct?: tf.Tensor } = {},
  chunkElements = HEAD_CHUNK_ELEMENTS,
): tf.Scalar {
  const stats: Partial<Record<TokenStat, tf.Tensor1D>> = {};
  const logp = headLogProbs(hn, head, labels, ['correct'], stats, chunkElements);
  out.correct = tf.keep(tf.sum(stats.correct!));
  stats.correct!.dispose();
  const w = lossType === 'dft' ? tf.mul(weights, stopGradient(tf.exp(logp))) : weights;
  return tf.neg(tf.sum(tf.mul(logp, w))) as tf.Scalar;
}
