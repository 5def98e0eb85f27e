// A training run's evaluation answers (daemon/engine/runAnswers.ts) on the tiny model: at each
// evaluation a DPO run answers the first eval_generations prompts of its eval set and logs eval/kl
// (LoRA: to the base with the adapter off), eval/distinct_1/2, eval/mean_length and
// eval/win_rate against the starting model's answers as the recipe's reward judges them, so the run's
// gates.json has seed 004's DPO conditions measured; a full fine-tune logs no KL and says why; no judge,
// no win rate (said once); eval_generations: 0 turns it all off.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { LoraConfig, RewardSpec, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { answerablePrompts, answerLength, answerPrompts, measureAnswers, readAnyRecords, rewardJudge } from '../../../daemon/engine/answerEval.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { loadRewards, stopIds } from '../../../daemon/engine/rollout.ts';
import { openScoringModel } from '../../../daemon/engine/scoringModel.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const pairs = join(root, 'examples/preference.jsonl');
const LORA: LoraConfig = { r: 4, alpha: 8, dropout: 0, target_modules: ['q_proj', 'v_proj'] };
const JUDGE: RewardSpec[] = [{ name: 'length', options: { unit: 'tokens', target: 12 } }];

before(() => useBackend());

async function run(o: { lora: LoraConfig | null; args?: Partial<TrainingArguments>; rewards?: RewardSpec[] }) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => metrics.push(m), sample: () => {}, log: (l) => logs.push(l), checkpoint: () => {} };
  const runDir = mkdtempSync(join(tmpdir(), 'anneal-eval-answers-'));
  const job: TrainJob = {
    stage: 'dpo',
    runDir,
    model: 'tiny',
    data: { train: pairs, eval: pairs },
    lora: o.lora,
    ...(o.rewards ? { rewards: o.rewards } : {}),
    samples: { prompts: [], every_steps: 0, max_new_tokens: 12, temperature: 0, top_p: 1 },
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    args: { ...defaultTrainingArguments('dpo'), save_steps: 0, logging_steps: 2, eval_steps: 2, max_length: 128, per_device_train_batch_size: 4, max_steps: 6, eval_generations: 4, ...o.args },
  };
  const before = tf.memory().numTensors;
  await train(job, events, new AbortController().signal);
  assert.equal(tf.memory().numTensors, before, 'the evaluation answers leave no tensor behind');
  const evals = metrics.filter((m) => 'eval/loss' in m);
  return { evals, logs, runDir };
}

test('LoRA DPO with an eval set: KL, entropy, diversity and the judged win rate at each evaluation; gates.json has them measured', async () => {
  const { evals, logs, runDir } = await run({ lora: LORA, rewards: JUDGE });
  assert.deepEqual(evals.map((m) => m.step), [2, 4, 6]);
  for (const m of evals) {
    for (const k of ['eval/kl', 'eval/entropy', 'eval/distinct_1', 'eval/distinct_2', 'eval/mean_length', 'eval/win_rate', 'eval/rewards/length/mean']) assert.ok(Number.isFinite(m[k]), `step ${m.step}: ${k} missing (got ${Object.keys(m).join(', ')})`);
    assert.ok(m['eval/distinct_2']! >= 0 && m['eval/distinct_2']! <= 1);
    assert.ok(m['eval/win_rate']! >= 0 && m['eval/win_rate']! <= 1);
    assert.ok(m['eval/mean_length']! > 0 && m['eval/mean_length']! <= 12, `answers are at most samples.max_new_tokens long (${m['eval/mean_length']})`);
    assert.ok(m['eval/entropy']! > 0);
  }
  // DPO's learning rate (1e-6) barely moves the adapter in two steps: the policy is still its starting self.
  assert.ok(evals[0]!['eval/kl']! >= -1e-3 && evals[0]!['eval/kl']! < 0.05, `KL after two small steps: ${evals[0]!['eval/kl']}`);
  assert.equal(logs.filter((l) => /^evaluation answers: 4 prompts × up to 12 tokens, [\d.]+ s per evaluation/.test(l)).length, 1, logs.join('\n'));

  const report = JSON.parse(readFileSync(join(runDir, 'gates.json'), 'utf8')) as { results: { condition: { metric: string; statistic?: string }; verdict: string; line: string }[] };
  const dpoConditions = report.results.filter((r) => ['eval/win_rate', 'eval/kl', 'eval/distinct_2'].includes(r.condition.metric));
  assert.ok(dpoConditions.length >= 4, `seed 004's DPO gates read them: ${report.results.map((r) => r.line).join('; ')}`);
  for (const r of dpoConditions) assert.notEqual(r.verdict, 'not-measured', r.line);
  console.log(report.results.map((r) => r.line).join('\n'));
});

test('full fine-tuning DPO: no eval/kl (no reference in memory), said once; the rest is measured', async () => {
  const { evals, logs } = await run({ lora: null, rewards: JUDGE, args: { max_steps: 2 } });
  assert.equal(evals.length, 1);
  assert.ok(!('eval/kl' in evals[0]!));
  assert.ok(Number.isFinite(evals[0]!['eval/distinct_2']) && Number.isFinite(evals[0]!['eval/win_rate']));
  assert.equal(logs.filter((l) => l.startsWith('evaluation answers: no eval/kl: full fine-tuning')).length, 1, logs.join('\n'));
});

test('no judge: no win rate, said once; eval_generations: 0 turns the answers off', async () => {
  const unjudged = await run({ lora: LORA, args: { max_steps: 4 } });
  assert.ok(unjudged.evals.every((m) => !('eval/win_rate' in m) && Number.isFinite(m['eval/kl'])));
  assert.equal(unjudged.logs.filter((l) => l.startsWith('evaluation answers: no eval/win_rate: the recipe names no judge')).length, 1);

  const off = await run({ lora: LORA, rewards: JUDGE, args: { max_steps: 2, eval_generations: 0 } });
  assert.equal(off.evals.length, 1);
  // (DPO's own eval/entropy, TRL's on the eval pairs, stays.)
  for (const k of ['eval/kl', 'eval/distinct_2', 'eval/mean_length', 'eval/win_rate']) assert.ok(!(k in off.evals[0]!), k);
  assert.ok(!off.logs.some((l) => l.startsWith('evaluation answers')));
});

test('SFT and KTO runs with an eval set answer its prompts too', async () => {
  for (const [stage, file] of [['sft', 'examples/sft.jsonl'], ['kto', 'examples/preference.jsonl']] as const) {
    const metrics: { step: number; [k: string]: number }[] = [];
    const events: TrainEvents = { status: () => {}, metrics: (m) => metrics.push(m), sample: () => {}, log: () => {}, checkpoint: () => {} };
    const data = join(root, file);
    const job: TrainJob = {
      stage,
      runDir: mkdtempSync(join(tmpdir(), `anneal-eval-answers-${stage}-`)),
      model: 'tiny',
      data: { train: data, eval: data },
      lora: LORA,
      rewards: JUDGE,
      backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
      args: { ...defaultTrainingArguments(stage), save_steps: 0, logging_steps: 1, eval_steps: 1, max_length: 128, per_device_train_batch_size: 4, max_steps: 1, eval_generations: 2 },
    };
    await train(job, events, new AbortController().signal);
    const evals = metrics.filter((m) => 'eval/loss' in m);
    assert.equal(evals.length, 1, stage);
    for (const k of ['eval/kl', 'eval/distinct_2', 'eval/mean_length', 'eval/win_rate']) assert.ok(Number.isFinite(evals[0]![k]), `${stage}: ${k} missing (got ${Object.keys(evals[0]!).join(', ')})`);
  }
});

test('the judged win rate: an answer the reward prefers to the baseline\'s wins, equal scores tie (half); KL to itself is 0', async () => {
  const scoring = await openScoringModel('tiny', 42);
  const { model, tokenizer: tok } = scoring;
  const rewards = await loadRewards(JUDGE, { maxCompletion: 12, seed: 42 });
  try {
    const prompts = answerablePrompts(readAnyRecords(pairs), tok, scoring.config.max_position_embeddings, 6);
    assert.equal(prompts.length, 6);
    const maxNew = answerLength(prompts, 12, scoring.config.max_position_embeddings);
    const mine = answerPrompts(model, tok, prompts, undefined, maxNew, 42);
    const stop = stopIds(tok);
    // A baseline that says nothing: the length reward (target 12 tokens) prefers any answer with a token in it.
    const silent = prompts.map(() => [stop[0]!]);
    const before = tf.memory().numTensors;
    const { metrics, samples } = await measureAnswers({ model, tok, prompts, answers: mine, reference: undefined, baseline: silent, judge: rewardJudge(rewards, stop) }, maxNew, 42);
    assert.equal(tf.memory().numTensors, before);
    const spoke = mine.map((a) => a.filter((id) => !stop.includes(id)).length > 0);
    assert.ok(spoke.some(Boolean), 'the tiny model says something to some prompt');
    assert.deepEqual(samples.map((x) => x.outcome), spoke.map((s) => (s ? 'win' : 'tie')));
    assert.equal(metrics['eval/win_rate'], spoke.reduce((a, s) => a + (s ? 1 : 0.5), 0) / spoke.length);
    assert.equal(metrics['eval/kl'], 0, 'the policy measured against itself');
    const against = await measureAnswers({ model, tok, prompts, answers: silent, reference: null, baseline: mine, judge: rewardJudge(rewards, stop) }, maxNew, 42);
    assert.equal(against.metrics['eval/win_rate'], 1 - metrics['eval/win_rate']!, 'positions do not matter to a scalar judge');
    assert.ok(!('eval/kl' in against.metrics), 'no reference, no KL');
  } finally {
    for (const r of rewards) await r.close();
    scoring.dispose();
  }
});
