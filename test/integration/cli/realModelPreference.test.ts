// The preference stages on the real SmolLM2-135M-Instruct through the CLI and a real daemon, as a user
// runs them without a recipe: `anneal train dpo --model <SmolLM2 .gguf> --data examples/identity.jsonl`
// (LoRA, the preference learning rate) moves the policy toward "I'm Nova" in a few steps (the implicit
// reward margin grows, the chosen answers win on the held-out pairs), and the run's adapter scores the
// held-out pairs the same way the run's evaluation did.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smollm2Gguf } from '../../helpers/realModels.ts';
import { CLI, ROOT, startTestDaemon, stopTestDaemon, tempDir } from '../daemon/helpers.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));

test('anneal train dpo on the SmolLM2 GGUF with no recipe: LoRA at a preference learning rate, margins grow, held-out pairs won', { timeout: 600_000 }, async () => {
  const dir = tempDir({ after: (fn) => cleanups.push(fn) });
  const daemon = await startTestDaemon(join(dir, 'state'));
  try {
    const args = [CLI, 'train', 'dpo', '--model', smollm2Gguf(), '--data', join(ROOT, 'examples/identity.jsonl'), '--eval', join(ROOT, 'examples/identity-eval.jsonl'), '--max-steps', '6', '--json', '--state-dir', daemon.stateDir];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 580_000 });
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr.slice(-2000)}`);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    const train = events.filter((e) => e.event === 'metrics' && typeof e.loss === 'number');
    const evals = events.filter((e) => e.event === 'metrics' && typeof e['eval/loss'] === 'number');
    const runId = String(events.find((e) => e.event === 'status')?.runId);
    const log = readFileSync(join(daemon.stateDir, 'runs', runId, 'log.txt'), 'utf8');
    assert.match(log, /learning_rate=0\.00005 .*a LoRA rate for dpo/);
    assert.equal(train.length, 6);
    // Step 1: the adapter is still zero, the policy is its reference.
    assert.ok(Math.abs((train[0]!.loss as number) - Math.LN2) < 1e-4, `first loss ${train[0]!.loss}`);
    const margins = train.map((m) => m['rewards/margins'] as number);
    const last = evals.at(-1)!;
    console.log(`SmolLM2 DPO, no recipe: loss ${train.map((m) => (m.loss as number).toFixed(3)).join(' ')}; margins ${margins.map((m) => m.toFixed(3)).join(' ')}; eval accuracies ${last['eval/rewards/accuracies']} margin ${(last['eval/rewards/margins'] as number).toFixed(3)}`);
    assert.ok(margins.at(-1)! > 0.05, `rewards/margins should grow: ${margins}`);
    assert.ok((last['eval/rewards/accuracies'] as number) >= 5 / 6, `held-out accuracy ${last['eval/rewards/accuracies']}`);
  } finally {
    await stopTestDaemon(daemon);
  }
});
