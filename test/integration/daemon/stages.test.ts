// Every stage the daemon trains beyond SFT, through the CLI as a user runs it: `anneal train <stage>
// --data examples/preference.jsonl --model tiny` (text.jsonl for cpt) on one real daemon (the CLI finds it through the
// state dir), the real engine on the tiny model. Each run streams TRL's metric names for its stage
// and `anneal runs` lists it; the human progress line carries the reward accuracy and margin; PPO trains
// on the reward run's output; a stage the daemon does not train is refused with the stages it does.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { SampleRecord } from '../../../core/protocol/runs.ts';
import { CLI, ROOT, connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/preference.jsonl');
/** Enough for two logged steps on tiny (a few seconds a stage), and every stage's names appear at each. */
const MAX_STEPS = 4;

const LOGITS = ['logits/chosen', 'logits/rejected'];
const LOGPS = ['logps/chosen', 'logps/rejected'];
const REWARDS = ['rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins'];
/** What every stage logs, as TRL's Trainer does. */
const COMMON = ['loss', 'grad_norm', 'learning_rate', 'epoch', 'num_tokens', 'train/tokens_per_second'];

/** TRL 1.16's metric names per stage (each trainer's `_metrics` keys). */
const EXPECTED: Record<string, string[]> = {
  dpo: [...COMMON, 'entropy', ...LOGITS, 'mean_token_accuracy', ...REWARDS, ...LOGPS],
  // KTO's rewards are per class, not per pair: a margin, but no accuracy.
  kto: [...COMMON, 'kl', 'entropy', ...LOGITS, 'rewards/chosen', 'rewards/rejected', 'rewards/margins', ...LOGPS],
  orpo: [...COMMON, 'nll_loss', 'log_odds_ratio', 'log_odds_chosen', ...REWARDS, ...LOGPS, ...LOGITS],
  cpo: [...COMMON, 'nll_loss', ...REWARDS, ...LOGPS, ...LOGITS],
  simpo: [...COMMON, 'nll_loss', ...REWARDS, ...LOGPS, ...LOGITS],
  reward: [...COMMON, 'accuracy', 'margin', 'min_reward', 'mean_reward', 'max_reward'],
  cpt: [...COMMON, 'mean_token_accuracy'],
};

/** The file each stage trains on: pairs, except continued pre-training's plain text. */
const dataFor = (stage: string) => join(ROOT, stage === 'cpt' ? 'examples/text.jsonl' : 'examples/preference.jsonl');

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('every stage but SFT through the CLI on one daemon (real engine, tiny model)', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const stateDir = tempDir({ after: (fn) => cleanups.push(fn) });
  let daemon: TestDaemon;
  const trained: { stage: string; runId: string; steps: number }[] = [];

  before(async () => {
    daemon = await startTestDaemon(stateDir);
  });
  after(() => stopTestDaemon(daemon));

  test('the daemon says it trains every one of these stages', async () => {
    const client = await connect(daemon);
    const stages = client.info.capabilities.stages;
    client.close();
    for (const stage of Object.keys(EXPECTED)) assert.ok(stages.includes(stage as never), `capabilities.stages ${stages.join(', ')} lacks ${stage}`);
  });

  for (const [stage, names] of Object.entries(EXPECTED)) {
    test(`anneal train ${stage}: exit 0, a ${stage}- run, TRL's ${stage} metric names streamed and stored`, async (t) => {
      const started = Date.now();
      const r = await cli(['train', stage, '--data', dataFor(stage), '--model', 'tiny', '--max-steps', String(MAX_STEPS), '--json', '--state-dir', stateDir]);
      assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
      const events = jsonLines(r.stdout);
      const statuses = events.filter((e) => e.event === 'status');
      const runId: string = statuses[0]?.runId;
      assert.ok(runId?.startsWith(`${stage}-`), `run id ${runId} starts with the stage`);
      assert.equal(statuses.at(-1).status, 'completed');
      assert.equal(statuses.at(-1).step, MAX_STEPS);

      const metrics = events.filter((e) => e.event === 'metrics');
      const train = metrics.filter((m) => typeof m.loss === 'number');
      assert.ok(train.length >= 1, 'at least one logged training step');
      for (const m of train) {
        const missing = names.filter((n) => !(n in m));
        assert.deepEqual(missing, [], `step ${m.step} of ${stage} lacks ${missing.join(', ')}`);
        assert.ok(Number.isFinite(m.loss), `finite loss at step ${m.step}`);
      }
      // The same records are on disk, as `anneal logs`/the dashboard replay them.
      assert.deepEqual(readMetricsFile(stateDir, runId), metrics.map(({ event: _e, ...rest }) => rest));
      trained.push({ stage, runId, steps: MAX_STEPS });
      t.diagnostic(`${stage}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
  }

  test('anneal train dpo without --json: the progress line shows acc and margin beside the loss', async () => {
    const r = await cli(['train', 'dpo', '--data', DATA, '--model', 'tiny', '--max-steps', '2', '--state-dir', stateDir]);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    // Not a TTY: one plain line per logged step.
    assert.match(r.stdout, /^step 2\/2 loss \d+\.\d+ {2}acc [01]\.\d\d {2}margin -?\d+\.\d+ {2}\d+ tok\/s {2}ETA /m);
    const runId = /^Run (dpo-\S+) started/m.exec(r.stdout)?.[1];
    assert.ok(runId, r.stdout);
    trained.push({ stage: 'dpo', runId, steps: 2 });
  });

  test('anneal runs --json lists every run with its stage, completed', async () => {
    const r = await cli(['runs', '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stderr);
    const runs = jsonLines(r.stdout);
    for (const { stage, runId, steps } of trained) {
      const run = runs.find((x) => x.id === runId);
      assert.ok(run, `${runId} listed`);
      assert.equal(run.stage, stage);
      assert.equal(run.status, 'completed');
      assert.equal(run.step, steps);
    }
    assert.equal(trained.length, Object.keys(EXPECTED).length + 1, 'every stage above trained');
  });

  test('anneal train grpo with examples/grpo.anneal.yaml: sampled groups scored by its reward, TRL\'s GRPO metric names', async () => {
    const r = await cli(['train', 'grpo', '--config', join(ROOT, 'examples/grpo.anneal.yaml'), '--max-steps', '2', '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    const metrics = jsonLines(r.stdout).filter((e) => e.event === 'metrics' && typeof e.loss === 'number');
    assert.ok(metrics.length >= 1);
    for (const k of ['reward', 'reward_std', 'frac_reward_zero_std', 'rewards/exact_match/mean', 'rewards/exact_match/std', 'rewards/concise/mean', 'entropy', 'clip_ratio/region_mean', 'completions/mean_length', 'completions/clipped_ratio']) {
      assert.ok(k in metrics.at(-1)!, `metric ${k} missing`);
    }
    // Every completion of the step is in the run's samples.jsonl with each reward's score (concise is the user's TypeScript module).
    const runId = jsonLines(r.stdout).find((e) => e.event === 'status')!.runId as string;
    const samples = readFileSync(join(stateDir, 'runs', runId, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SampleRecord);
    const first = samples.filter((x) => x.step === 1);
    assert.equal(first.length, 16, 'per_device_train_batch_size 8 x gradient_accumulation_steps 2');
    for (const x of first) {
      assert.deepEqual(Object.keys(x.scored!.rewards).sort(), ['concise', 'exact_match']);
      assert.ok([0, 0.5, 1].includes(x.scored!.rewards.concise!), `concise scored ${x.scored!.rewards.concise}`);
      assert.equal(typeof x.scored!.advantage, 'number');
    }
    // Recipe-less, GRPO has nothing to score with: one sentence, before any step.
    const bare = await cli(['train', 'grpo', '--data', join(ROOT, 'examples/prompts.jsonl'), '--model', 'tiny', '--json', '--state-dir', stateDir]);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stdout + bare.stderr, /GRPO needs reward functions/);
  });

  test('anneal train ppo with a recipe whose reward_model_path is the reward run above: TRL\'s PPO metric names', async () => {
    const runs = jsonLines((await cli(['runs', '--json', '--state-dir', stateDir])).stdout);
    const rewardRun = runs.find((x) => x.stage === 'reward' && x.status === 'completed');
    assert.ok(rewardRun, 'the reward stage trained above');
    const dir = tempDir({ after: (fn) => cleanups.push(fn) });
    const recipe = join(dir, 'ppo.anneal.yaml');
    // A relative reward_model_path is resolved from the recipe's folder.
    writeFileSync(recipe, readFileSync(join(ROOT, 'examples/ppo.anneal.yaml'), 'utf8').replace(/^reward_model_path: .*$/m, `reward_model_path: ${relative(dir, join(stateDir, 'runs', rewardRun.id, 'output'))}`).replace('train: prompts.jsonl', `train: ${join(ROOT, 'examples/prompts.jsonl')}`));
    const r = await cli(['train', 'ppo', '--config', recipe, '--max-steps', '2', '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    const metrics = jsonLines(r.stdout).filter((e) => e.event === 'metrics' && typeof e.loss === 'number');
    const last = metrics.at(-1)!;
    assert.equal(last.step, 2);
    for (const k of ['objective/kl', 'objective/entropy', 'objective/non_score_reward', 'objective/rlhf_reward', 'objective/scores', 'policy/approxkl_avg', 'policy/clipfrac_avg', 'loss/policy_avg', 'loss/value_avg', 'val/clipfrac_avg', 'policy/entropy_avg', 'val/ratio', 'val/ratio_var', 'val/num_eos_tokens']) {
      assert.ok(k in last, `metric ${k} missing (got ${Object.keys(last).join(', ')})`);
    }
    // Recipe-less, PPO has no reward model: one sentence, before any step.
    const bare = await cli(['train', 'ppo', '--data', join(ROOT, 'examples/prompts.jsonl'), '--model', 'tiny', '--json', '--state-dir', stateDir]);
    assert.notEqual(bare.code, 0);
    // The recipe checks catch it before the run is created (the engine would say the same at load).
    assert.match(bare.stdout + bare.stderr, /PPO scores each response with a trained reward model; add `reward_model_path:`/);
  });

  test('anneal train rloo is refused, naming the stages this daemon trains', async () => {
    const client = await connect(daemon);
    const stages = client.info.capabilities.stages;
    client.close();
    const r = await cli(['train', 'rloo', '--data', DATA, '--model', 'tiny', '--state-dir', stateDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `anneal: This daemon cannot train stage "rloo" yet; it can train: ${stages.join(', ')}.`);
    const json = await cli(['train', 'rloo', '--data', DATA, '--model', 'tiny', '--json', '--state-dir', stateDir]);
    assert.equal(json.code, 2);
    assert.deepEqual(jsonLines(json.stdout), [{ event: 'error', message: `This daemon cannot train stage "rloo" yet; it can train: ${stages.join(', ')}.` }]);
    // Nothing was started.
    const runs = jsonLines((await cli(['runs', '--json', '--state-dir', stateDir])).stdout);
    assert.equal(runs.filter((x) => x.stage === 'rloo').length, 0);
  });
});
