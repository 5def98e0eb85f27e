// Scoring a preference file's pairs with a model (the pair inspector's "Score pairs with a model"):
// with a DPO run's adapter, the implicit reward against the base; with a reward run's output, the
// reward model's scores; a margin below 0 marks a pair the model prefers backwards. A plain model
// is refused with the reason.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { Stage } from '../../../core/recipe/types.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { scorePairs } from '../../../daemon/engine/scorePairs.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const pairs = join(root, 'examples/preference.jsonl');
const backend = process.env.ANNEAL_TEST_BACKEND ?? 'wasm';

before(() => useBackend());

async function trained(stage: Stage, learningRate: number, steps: number): Promise<string> {
  const quiet = { status: () => {}, metrics: () => {}, sample: () => {}, log: () => {}, checkpoint: () => {} };
  const res = await train(
    { stage, runDir: mkdtempSync(join(tmpdir(), `anneal-score-${stage}-`)), model: 'tiny', data: { train: pairs }, lora: { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' }, backend, args: { ...defaultTrainingArguments(stage), save_steps: 0, max_steps: steps, per_device_train_batch_size: 4, learning_rate: learningRate, max_length: 320 } },
    quiet,
    new AbortController().signal,
  );
  return res.outputDir;
}

/** The training pairs with three of them flipped (chosen and rejected swapped), as a labelling mistake would. */
function withFlipped(): { file: string; flipped: number[] } {
  const lines = readFileSync(pairs, 'utf8').trim().split('\n');
  const flipped = [2, 9, 17];
  const out = lines.map((l, i) => {
    if (!flipped.includes(i)) return l;
    const r = JSON.parse(l) as { prompt: string; chosen: string; rejected: string };
    return JSON.stringify({ prompt: r.prompt, chosen: r.rejected, rejected: r.chosen });
  });
  const file = join(mkdtempSync(join(tmpdir(), 'anneal-score-data-')), 'pairs.jsonl');
  writeFileSync(file, out.join('\n') + '\n');
  return { file, flipped };
}

for (const [stage, lr, steps, kind] of [['dpo', 5e-3, 30, 'implicit-reward'], ['reward', 3e-3, 18, 'reward-model']] as const) {
  test(`a ${stage} run's output scores every pair (${kind}); the flipped pairs come out with negative margins`, async () => {
    const model = await trained(stage, lr, steps);
    const { file, flipped } = withFlipped();
    const seen: number[] = [];
    const result = await scorePairs({ model, data: file, maxLength: 320, backend }, (done) => seen.push(done));
    assert.equal(result.kind, kind);
    assert.equal(result.scores.length, 24);
    assert.deepEqual(result.scores.map((s) => s.line), [...Array(24).keys()]);
    assert.equal(seen.at(-1), 24, 'progress reaches the end');
    for (const s of result.scores) assert.ok(Math.abs(s.margin - (s.chosen - s.rejected)) < 1e-9);
    const negative = result.scores.filter((s) => s.margin < 0).map((s) => s.line);
    console.log(`${stage}: ${result.description}; negative margins on lines ${negative.join(', ')} (flipped: ${flipped.join(', ')})`);
    for (const line of flipped) assert.ok(negative.includes(line), `flipped pair on line ${line} should score negative`);
    assert.ok(negative.length <= flipped.length + 3, `few unflipped pairs score negative: ${negative}`);
  });
}

test('a plain model has nothing to score pairs with: refused with the reason', async () => {
  await assert.rejects(scorePairs({ model: 'tiny', data: pairs, backend }), /plain model: it has no score head .* and no adapter/);
});
