// DPO equals TRL: on TRL's own fixed batch and tiny random model (test/fixtures/trl/dpo.json), every
// loss type, f-divergence, MPO weighting and truncation gives TRL's loss (<= 1e-5 relative), its
// per-sequence log-probs, its metrics and its gradients (<= 1e-4), for full fine-tuning against an
// explicit reference model and for a LoRA adapter whose reference is the base with the adapter off.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { sequenceBatch, sequenceLogProbs, type ScoredSequence } from '../../../daemon/engine/logprobs.ts';
import type { LlamaModel } from '../../../daemon/engine/model.ts';
import { dpoPairLoss, dpoSettings } from '../../../daemon/engine/stages/dpo.ts';
import { useBackend } from './helpers.ts';
import { assertClose, assertGradients, loadFixtureAdapter, loadFixtureModel, readGolden, type GoldenCase } from './trlFixtures.ts';

interface PairIds {
  prompt_ids: number[];
  chosen_ids: number[];
  rejected_ids: number[];
}

const golden = readGolden<PairIds>('dpo');
const PAD = 0;

before(() => useBackend());

/** TRL's collator layout: [prompt + chosen ; prompt + rejected], each cut to max_length keeping the start. */
function pairRows(maxLength = Infinity): ScoredSequence[] {
  const seq = (p: PairIds, completion: number[]) => ({ ids: Int32Array.from([...p.prompt_ids, ...completion].slice(0, maxLength)), completionStart: p.prompt_ids.length });
  return [...golden.examples.map((p) => seq(p, p.chosen_ids)), ...golden.examples.map((p) => seq(p, p.rejected_ids))];
}

test(`the pairs collate as TRL ${golden.trl_version}'s DataCollatorForPreference does`, () => {
  const b = sequenceBatch(pairRows(), PAD);
  const T = b.length;
  assert.deepEqual(Array.from({ length: b.batch }, (_, r) => Array.from(b.ids.subarray(r * T, (r + 1) * T))), golden.collated.input_ids);
  // TRL's completion_mask marks completion tokens; ours lists the positions that predict them.
  const mask = golden.collated.completion_mask!;
  const predicted = Array.from(b.select, (p) => [Math.floor(p / T), (p % T) + 1]);
  assert.deepEqual(predicted, mask.flatMap((row, r) => row.flatMap((m, t) => (m ? [[r, t]] : []))));
});

/** Runs one case; returns our loss, metrics, per-sequence log-probs and gradients. */
function runCase(c: GoldenCase, policy: LlamaModel, lora: LoraAdapter | null, reference: Float64Array) {
  const args = { ...defaultTrainingArguments('dpo'), ...(c.config as Partial<TrainingArguments>) } as TrainingArguments;
  const loss = dpoPairLoss(dpoSettings(args));
  const b = sequenceBatch(pairRows(typeof c.config.max_length === 'number' ? c.config.max_length : Infinity), PAD);
  const B = golden.examples.length;
  const refs = Array.from({ length: B }, (_, i) => Float64Array.of(reference[i]!, reference[B + i]!));
  const out = new Map<string, number>();
  const vars = [...(lora ? lora.params : policy.params).values()];
  const names = new Map([...(lora ? lora.params : policy.params)].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(() => loss(policy, lora, b, refs, 1, out, false), vars);
  const lossValue = value.dataSync()[0]!;
  value.dispose();
  const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
  return { loss: lossValue, out, byName, logps: sequenceLogProbs(policy, b, lora ?? undefined) };
}

function compare(c: GoldenCase, got: ReturnType<typeof runCase>, rename?: (n: string) => string | null) {
  assertClose([got.loss], [c.loss], 1e-5, `${c.name}: loss`);
  const B = golden.examples.length;
  assertClose(Array.from(got.logps.subarray(0, B)), c.logps.chosen!, 1e-5, `${c.name}: chosen log-probs`);
  assertClose(Array.from(got.logps.subarray(B)), c.logps.rejected!, 1e-5, `${c.name}: rejected log-probs`);
  for (const [name, v] of Object.entries(c.metrics)) {
    if (name === 'num_tokens') continue; // a running total kept by the loop, not the loss
    assert.ok(got.out.has(name), `${c.name}: no metric ${name}`);
    assertClose([got.out.get(name)!], [v], 1e-5, `${c.name}: ${name}`);
  }
  assertGradients(got.byName, c.grads, 1e-4, rename);
  for (const g of got.byName.values()) g.dispose();
}

const fullCases = golden.cases.filter((c) => !c.name.startsWith('peft_') && c.config.ld_alpha === undefined);

test(`every DPO loss type on a full model with an explicit reference equals TRL (${fullCases.length} cases)`, () => {
  assert.ok(fullCases.length >= 20);
  const policy = loadFixtureModel('policy');
  const ref = loadFixtureModel('ref', false);
  for (const c of fullCases) {
    const maxLength = typeof c.config.max_length === 'number' ? c.config.max_length : Infinity;
    const reference = sequenceLogProbs(ref, sequenceBatch(pairRows(maxLength), PAD));
    const B = golden.examples.length;
    assertClose(Array.from(reference.subarray(0, B)), c.logps.ref_chosen!, 1e-5, `${c.name}: reference chosen log-probs`);
    compare(c, runCase(c, policy, null, reference));
  }
});

test('LoRA: the reference is the base model with the adapter left out, and the adapter gradients equal TRL/PEFT', () => {
  const c = golden.cases.find((k) => k.name === 'peft_sigmoid')!;
  const policy = loadFixtureModel('policy', false);
  const lora = loadFixtureAdapter(policy);
  const reference = sequenceLogProbs(policy, sequenceBatch(pairRows(), PAD));
  const B = golden.examples.length;
  assertClose(Array.from(reference.subarray(0, B)), c.logps.ref_chosen!, 1e-5, 'reference chosen = base model');
  assertClose(Array.from(reference.subarray(B)), c.logps.ref_rejected!, 1e-5, 'reference rejected = base model');
  // PEFT names its gradients base_model.model.<module>.lora_A[.default].weight; the adapter's own names drop both prefixes.
  compare(c, runCase(c, policy, lora, reference), (n) => (n.includes('.default.') ? null : n.replace(/^base_model\.model\./, '')));
});

test('continuing a trained adapter: the reference is a frozen copy of it (TRL\'s "ref" adapter), so the first loss is ln 2 and the gradients equal TRL\'s', () => {
  const c = golden.cases.find((k) => k.name === 'peft_pretrained_adapter_sigmoid')!;
  const policy = loadFixtureModel('policy', false);
  const lora = loadFixtureAdapter(policy);
  const frozen = loadFixtureAdapter(policy);
  const reference = sequenceLogProbs(policy, sequenceBatch(pairRows(), PAD), frozen);
  const B = golden.examples.length;
  assertClose(Array.from(reference.subarray(0, B)), c.logps.ref_chosen!, 1e-5, 'reference chosen = base + starting adapter');
  assertClose([c.loss], [Math.LN2], 1e-6, "TRL's loss");
  compare(c, runCase(c, policy, lora, reference), (n) => (n.includes('.default.') || n.includes('.ref.') ? null : n.replace(/^base_model\.model\./, '')));
});
