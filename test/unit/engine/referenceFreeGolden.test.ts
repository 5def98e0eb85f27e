// CPO/SimPO/AlphaPO and ORPO equal TRL: on TRL's own collated batch (test/fixtures/trl/cpo.json,
// orpo.json; its legacy tokenizer puts BOS before the prompt) and tiny random model, every case's
// loss (<= 1e-5 relative), per-sequence log-probs, metrics and gradients (<= 1e-4) match.
// logits/chosen and logits/rejected are not compared: TRL's CPO/ORPO average every logit of the
// chosen half, padding positions included; Anneal averages over completion tokens, as TRL's DPO does.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { ScoredSequence } from '../../../daemon/engine/logprobs.ts';
import { cpoPairLoss, cpoSettings } from '../../../daemon/engine/stages/cpo.ts';
import { orpoBeta, orpoPairLoss } from '../../../daemon/engine/stages/orpo.ts';
import { pairRows, type PairLoss } from '../../../daemon/engine/stages/pairStage.ts';
import { useBackend } from './helpers.ts';
import { assertClose, assertGradients, loadFixtureModel, readGolden, type Golden, type GoldenCase } from './trlFixtures.ts';

before(() => useBackend());

const NOT_COMPARED = new Set(['logits/chosen', 'logits/rejected']);

/** The collated rows of one side as sequences: padding dropped, the completion where the labels start. */
function side(golden: Golden<unknown>, name: 'chosen' | 'rejected'): ScoredSequence[] {
  const ids = golden.collated[`${name}_input_ids`]!;
  const mask = golden.collated[`${name}_attention_mask`]!;
  const labels = golden.collated[`${name}_labels`]!;
  return ids.map((row, r) => ({ ids: Int32Array.from(row.filter((_, t) => mask[r]![t] === 1)), completionStart: labels[r]!.findIndex((l) => l !== -100) }));
}

function check(stage: 'cpo' | 'orpo', lossOf: (args: TrainingArguments) => PairLoss, scoreChosenPrompt: boolean) {
  const golden = readGolden<unknown>(stage);
  test(`${stage.toUpperCase()}: ${golden.cases.map((c) => c.name).join(', ')} equal TRL ${golden.trl_version}`, () => {
    const policy = loadFixtureModel('policy');
    const chosen = side(golden, 'chosen');
    const rejected = side(golden, 'rejected');
    const pairs = chosen.map((c, i) => ({ chosen: c, rejected: rejected[i]!, line: i }));
    const names = new Map([...policy.params].map(([n, v]) => [v.name, n]));
    for (const c of golden.cases as GoldenCase[]) {
      const args = { ...defaultTrainingArguments(stage), ...(c.config as Partial<TrainingArguments>) } as TrainingArguments;
      const b = pairRows(pairs, 0, scoreChosenPrompt);
      const out = new Map<string, number>();
      const { value, grads } = tf.variableGrads(() => lossOf(args)(policy, null, b, null, 1, out, false), [...policy.params.values()]);
      assertClose([value.dataSync()[0]!], [c.loss], 1e-5, `${c.name}: loss`);
      value.dispose();
      for (const [name, v] of Object.entries(c.metrics)) {
        if (NOT_COMPARED.has(name)) continue;
        assert.ok(out.has(name), `${c.name}: no metric ${name}`);
        assertClose([out.get(name)!], [v], 1e-5, `${c.name}: ${name}`);
      }
      const byName = new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g]));
      assertGradients(byName, c.grads, 1e-4);
      for (const g of byName.values()) g.dispose();
    }
  });
}

check('cpo', (args) => cpoPairLoss(cpoSettings(args, 'cpo')), false);
check('orpo', (args) => orpoPairLoss(orpoBeta(args)), true);
