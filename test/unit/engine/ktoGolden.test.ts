// KTO equals TRL: on TRL's own examples (test/fixtures/trl/kto.json) the mismatched KL rows are TRL's
// (example i's prompt with example i-1's completion), and every case's loss (<= 1e-5 relative),
// log-probs, KL estimate, metrics and gradients (<= 1e-4) match, for a clamped (negative) KL, a
// positive one (policy and reference swapped), class weights and apo_zero_unpaired.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { sequenceBatch, sequenceLogProbs } from '../../../daemon/engine/logprobs.ts';
import { joined } from '../../../daemon/engine/preferenceData.ts';
import { klEstimate, ktoLoss, ktoSettings } from '../../../daemon/engine/stages/kto.ts';
import { useBackend } from './helpers.ts';
import { assertClose, assertGradients, loadFixtureModel, readGolden } from './trlFixtures.ts';

interface Unpaired {
  prompt_ids: number[];
  completion_ids: number[];
  label: boolean;
}

const golden = readGolden<Unpaired>('kto');
const ex = golden.examples.map((e) => ({ prompt: Int32Array.from(e.prompt_ids), completion: Int32Array.from(e.completion_ids), label: e.label }));
const N = ex.length;
const main = ex.map((e) => joined(e.prompt, e.completion, Infinity));
const mismatched = ex.map((e, i) => joined(e.prompt, ex[(i - 1 + N) % N]!.completion, Infinity));

before(() => useBackend());

test(`the KL rows are TRL ${golden.trl_version}'s rotated completions`, () => {
  const b = sequenceBatch(mismatched, 0);
  assert.deepEqual(Array.from({ length: N }, (_, r) => Array.from(b.ids.subarray(r * b.length, (r + 1) * b.length))), golden.collated.KL_input_ids);
});

test(`KTO: ${golden.cases.map((c) => c.name).join(', ')} equal TRL`, () => {
  const models = { policy: loadFixtureModel('policy'), ref: loadFixtureModel('ref') };
  for (const c of golden.cases) {
    // kto_kl_positive swaps the two models, so the KL estimate is positive and not clamped.
    const [policy, ref] = c.name === 'kto_kl_positive' ? [models.ref, models.policy] : [models.policy, models.ref];
    const args = { ...defaultTrainingArguments('kto'), per_device_train_batch_size: N, ...(c.config as Partial<TrainingArguments>) } as TrainingArguments;
    const s = ktoSettings(args);
    const b = sequenceBatch(main, 0);
    const reference = sequenceLogProbs(ref, b);
    assertClose(Array.from(reference), c.logps.ref_completion!, 1e-5, `${c.name}: reference log-probs`);
    let kl = 0;
    if (s.lossType === 'kto') {
      const policyKl = sequenceLogProbs(policy, sequenceBatch(mismatched, 0));
      const refKl = sequenceLogProbs(ref, sequenceBatch(mismatched, 0));
      assertClose(Array.from(policyKl), c.logps.KL!, 1e-5, `${c.name}: KL rows, policy`);
      assertClose(Array.from(refKl), c.logps.ref_KL!, 1e-5, `${c.name}: KL rows, reference`);
      kl = klEstimate(policyKl, refKl);
    }
    const out = new Map<string, number>();
    const names = new Map([...policy.params].map(([n, v]) => [v.name, n]));
    const { value, grads } = tf.variableGrads(() => ktoLoss(s, policy, null, b, ex.map((e) => e.label), reference, kl, 1, out, false), [...policy.params.values()]);
    assertClose([value.dataSync()[0]!], [c.loss], 1e-5, `${c.name}: loss`);
    value.dispose();
    assertClose(Array.from(sequenceLogProbs(policy, b)), c.logps.completion!, 1e-5, `${c.name}: log-probs`);
    for (const [name, v] of Object.entries(c.metrics)) {
      if (name === 'num_tokens') continue; // the loop's running total
      assert.ok(out.has(name), `${c.name}: no metric ${name}`);
      assertClose([out.get(name)!], [v], 1e-5, `${c.name}: ${name}`);
    }
    const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
    assertGradients(byName, c.grads, 1e-4);
    for (const g of byName.values()) g.dispose();
  }
});
