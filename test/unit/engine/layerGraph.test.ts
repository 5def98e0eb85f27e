// A LoRA training pass whose decoder layers run as TensorFlow graphs (layerGraph.ts, native backend
// only) against the same pass op by op (ANNEAL_LAYER_GRAPHS=0): the same loss and the same gradient
// for every A and B, with grouped-query attention, padding, Qwen2's q/k/v biases, Llama's
// attention/MLP biases and Qwen3's q/k head norms, at another batch shape with the same graphs; dropout drawn in the graphs and
// again under gradient checkpointing; no tensors left behind.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { disposeModel } from '../../../daemon/engine/model.ts';
import { graphLayerStats } from '../../../daemon/engine/layerGraph.ts';
import * as tf from '@tensorflow/tfjs-core';
import { GraphBuilder, GraphSession, graphsAvailable } from '../../../daemon/engine/tfGraph.ts';
import { batch, gradients, load, loraWithDropout, maxDiff } from './gradientCases.ts';
import { useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

/** The pass op by op: the switch graphLayerInputs reads. */
function opByOp<T>(f: () => T): T {
  process.env.ANNEAL_LAYER_GRAPHS = '0';
  try {
    return f();
  } finally {
    delete process.env.ANNEAL_LAYER_GRAPHS;
  }
}

/** Fixture and LoRA targets: every linear module, or PEFT's common q/v only (the others run unadapted in the graphs). */
const CASES: [string, string, 'all-linear' | string[]][] = [
  ['llama_tiny', 'llama_tiny', 'all-linear'],
  ['llama_tiny, q_proj and v_proj only', 'llama_tiny', ['q_proj', 'v_proj']],
  ['qwen2', 'architectures/qwen2', 'all-linear'],
  ['llama3_bias', 'architectures/llama3_bias', 'all-linear'],
  ['qwen3 (q/k head norms)', 'architectures/qwen3_yarn', 'all-linear'],
];

for (const [label, dir, targets] of CASES) {
  test(`${label}: LoRA layers as graphs give the op-by-op pass's loss and gradients; dropout's masks drawn again in the backward graph (checkpointing agrees); no tensors left`, (t) => {
    if (!graphsAvailable()) return t.skip('graphs run on the native backend only');
    const data = batch(dir);
    const model = load(dir, false);
    const lora = loraWithDropout(model, targets);
    // Without dropout both ways compute the same function.
    lora.training = false;
    const eager = opByOp(() => gradients(model, lora, data, false));
    const before = graphLayerStats();
    const graph = gradients(model, lora, data, false);
    assert.equal(graphLayerStats().runs - before.runs, model.config.num_hidden_layers, 'every layer ran as a graph');
    assert.equal(graph.leaked, 0, 'graph pass leaves no tensors');
    const d = maxDiff(eager.grads, graph.grads);
    assert.ok(d.scale > 0);
    assert.ok(d.diff <= 2e-5 * Math.max(1, d.scale), `gradients differ by ${d.diff} (largest ${d.scale})`);
    assert.ok(Math.abs(eager.loss - graph.loss) <= 1e-5, `loss ${eager.loss} vs ${graph.loss}`);
    // Another batch size and length: the same graphs (nothing built), the same agreement.
    const built = graphLayerStats().built;
    const other = batch(dir, 1, data.inputs.length - 3);
    const eagerOther = opByOp(() => gradients(model, lora, other, false));
    const dOther = maxDiff(eagerOther.grads, gradients(model, lora, other, false).grads);
    assert.equal(graphLayerStats().built, built, 'another shape reuses the graphs');
    assert.ok(dOther.diff <= 2e-5 * Math.max(1, dOther.scale), `gradients at another shape differ by ${dOther.diff}`);
    // With dropout the graphs draw each module's mask from its seed (keyed by pass and module), in the
    // forward graph and again in the backward one: a layer recomputed under checkpointing draws the
    // same, the same key twice gives the same gradients, another key others, and dropout matters.
    lora.training = true;
    lora.reseed(7);
    const dropped = gradients(model, lora, data, false);
    const droppedCk = gradients(model, lora, data, true);
    assert.equal(droppedCk.leaked, 0, 'checkpointed graph pass leaves no tensors');
    const dCk = maxDiff(dropped.grads, droppedCk.grads);
    assert.ok(dCk.diff <= 2e-5 * Math.max(1, dCk.scale), `checkpointed gradients differ by ${dCk.diff}`);
    assert.equal(maxDiff(dropped.grads, gradients(model, lora, data, false).grads).diff, 0, 'the same key draws the same masks');
    assert.ok(maxDiff(dropped.grads, graph.grads).diff > 1e-3, 'dropout changes the gradients');
    lora.reseed(8);
    assert.ok(maxDiff(dropped.grads, gradients(model, lora, data, false).grads).diff > 1e-3, 'another key draws other masks');
    console.log(`${label}: loss ${graph.loss.toFixed(5)}, gradients within ${d.diff.toExponential(1)} of ${d.scale.toFixed(2)}; with dropout ${dropped.loss.toFixed(5)}`);
    lora.dispose();
    disposeModel(model);
  });
}

test("a graph's stateless uniform draw: dropout at rate p zeroes about p of the entries, the same seed draws the same", (t) => {
  if (!graphsAvailable()) return t.skip('graphs run on the native backend only');
  const g = new GraphBuilder();
  const x = g.input('x');
  const seed = g.input('seed', 'int32');
  const kept = g.floor(g.add(g.uniformLike(x, seed), g.scalar(1 - 0.3)));
  const session = new GraphSession(g, [kept]);
  const x0 = tf.zeros([200, 300]);
  const draw = (s: number) => tf.tidy(() => session.run([x0, tf.tensor1d([s, 0x5eed], 'int32')])[0]!.dataSync() as Float32Array);
  const a = draw(11);
  const zeros = a.filter((v) => v === 0).length / a.length;
  assert.ok(Math.abs(zeros - 0.3) < 0.01, `dropped ${zeros}`);
  assert.ok(a.every((v) => v === 0 || v === 1));
  assert.deepEqual(draw(11), a);
  assert.notDeepEqual(draw(12), a);
  session.dispose();
  x0.dispose();
});
