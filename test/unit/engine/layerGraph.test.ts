// A LoRA training pass whose decoder layers run as TensorFlow graphs (layerGraph.ts, native backend
// only) against the same pass op by op (ANNEAL_LAYER_GRAPHS=0): the same loss and the same gradient
// for every A and B, with dropout, grouped-query attention, padding, Qwen2's q/k/v biases and Llama's
// attention/MLP biases; also under gradient checkpointing and at another batch shape (with the same
// graphs); and no tensors left behind.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { disposeModel } from '../../../daemon/engine/model.ts';
import { graphLayerStats } from '../../../daemon/engine/layerGraph.ts';
import { graphsAvailable } from '../../../daemon/engine/tfGraph.ts';
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
];

for (const [label, dir, targets] of CASES) {
  test(`${label}: LoRA layers as graphs give the op-by-op pass's loss and gradients (dropout, checkpointing), no tensors left`, (t) => {
    if (!graphsAvailable()) return t.skip('graphs run on the native backend only');
    const data = batch(dir);
    const model = load(dir, false);
    const lora = loraWithDropout(model, targets);
    lora.reseed(7);
    const eager = opByOp(() => gradients(model, lora, data, false));
    const before = graphLayerStats();
    const graph = gradients(model, lora, data, false);
    assert.equal(graphLayerStats().runs - before.runs, model.config.num_hidden_layers, 'every layer ran as a graph');
    const graphCk = gradients(model, lora, data, true);
    assert.equal(graph.leaked, 0, 'graph pass leaves no tensors');
    assert.equal(graphCk.leaked, 0, 'checkpointed graph pass leaves no tensors');
    const d = maxDiff(eager.grads, graph.grads);
    const dCk = maxDiff(eager.grads, graphCk.grads);
    assert.ok(d.scale > 0);
    assert.ok(d.diff <= 2e-5 * Math.max(1, d.scale), `gradients differ by ${d.diff} (largest ${d.scale})`);
    assert.ok(dCk.diff <= 2e-5 * Math.max(1, dCk.scale), `checkpointed gradients differ by ${dCk.diff}`);
    assert.ok(Math.abs(eager.loss - graph.loss) <= 1e-5, `loss ${eager.loss} vs ${graph.loss}`);
    // Another batch size and length: the same graphs (nothing built), the same agreement.
    const built = graphLayerStats().built;
    const other = batch(dir, 1, data.inputs.length - 3);
    const eagerOther = opByOp(() => gradients(model, lora, other, false));
    const dOther = maxDiff(eagerOther.grads, gradients(model, lora, other, false).grads);
    assert.equal(graphLayerStats().built, built, 'another shape reuses the graphs');
    assert.ok(dOther.diff <= 2e-5 * Math.max(1, dOther.scale), `gradients at another shape differ by ${dOther.diff}`);
    // Dropout's masks reach the graphs: without them the gradients differ.
    lora.training = false;
    assert.ok(maxDiff(eager.grads, gradients(model, lora, data, false).grads).diff > 1e-3, 'dropout reaches the graphs');
    console.log(`${label}: loss ${graph.loss.toFixed(5)}, gradients within ${d.diff.toExponential(1)} of ${d.scale.toFixed(2)}`);
    lora.dispose();
    disposeModel(model);
  });
}
