// The TRL engine end to end without the daemon: a recipe with `engine: trl` is resolved, mapped,
// checked in the venv's Python and trained by `python -m anneal_trl run` through `accelerate launch`
// with two CPU processes (torchrun + gloo) on a tiny random Llama, a few steps each. Checked: metrics
// arrive under TRL's names, checkpoints and the output land in Anneal's layout, a stop saves a
// checkpoint and a resume continues after it, a bad key is refused before launch, a Python without
// TRL gets the pip command.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRecipe } from '../../../core/recipe/index.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import type { SampleRecord } from '../../../core/protocol/runs.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { prepareTrlPlan, trainWithTrl, writePlan, type TrlJob } from '../../../daemon/trl/train.ts';
import { launcherEnv } from '../../../daemon/trl/environment.ts';
import { parseEvent } from '../../../daemon/trl/events.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { makeTinyLlama, trlPython } from './python.ts';

const env = trlPython();
const skip = 'skip' in env ? env.skip : undefined;
const root = mkdtempSync(join(tmpdir(), 'anneal-trl-'));
const model = join(root, 'tiny-llama');
let runs = 0;

before(() => {
  if (skip) return;
  makeTinyLlama((env as { python: string }).python, model);
  const sft = Array.from({ length: 16 }, (_, i) => ({ messages: [{ role: 'user', content: `What is ${i} plus ${i}?` }, { role: 'assistant', content: `The answer is ${2 * i}.` }] }));
  const pairs = Array.from({ length: 16 }, (_, i) => ({ prompt: `What is ${i} plus ${i}?`, chosen: `The answer is ${2 * i}.`, rejected: `I do not know ${i}.` }));
  const prompts = Array.from({ length: 8 }, (_, i) => ({ prompt: [{ role: 'user', content: `What is ${i} plus 1?` }], answer: String(i + 1) }));
  const lines = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(root, 'sft.jsonl'), lines(sft));
  writeFileSync(join(root, 'pairs.jsonl'), lines(pairs));
  writeFileSync(join(root, 'prompts.jsonl'), lines(prompts));
  // Alpaca: another tool's format, normalised to messages for TRL.
  writeFileSync(join(root, 'alpaca.jsonl'), lines(sft.map((r) => ({ instruction: r.messages[0].content, output: r.messages[1].content }))));
});

interface Collected {
  events: TrainEvents;
  metrics: { step: number; [name: string]: number }[];
  samples: SampleRecord[];
  checkpoints: { step: number; path: string }[];
  log: string[];
  status: { phase: string; message?: string; totalSteps?: number; backend?: { device: string } }[];
}

function collect(onMetrics?: (m: { step: number }) => void): Collected {
  const c: Collected = { metrics: [], samples: [], checkpoints: [], log: [], status: [], events: undefined as unknown as TrainEvents };
  c.events = {
    status: (s) => c.status.push(s),
    metrics: (m) => {
      c.metrics.push(m);
      onMetrics?.(m);
    },
    sample: (s) => c.samples.push(s),
    log: (line) => c.log.push(line),
    checkpoint: (k) => c.checkpoints.push(k),
  };
  return c;
}

/** A job from recipe text (written beside the data), for a fresh run folder. */
function job(recipe: string, extra: Partial<TrlJob> = {}): TrlJob {
  const file = join(root, `r${++runs}.anneal.yaml`);
  writeFileSync(file, recipe);
  const checked = checkRecipe(recipe, file, nodeFiles);
  assert.ok(checked.recipe, JSON.stringify(checked.diagnostics.filter((d) => d.severity === 'error'), null, 1));
  const r = checked.recipe;
  const runDir = join(root, 'runs', `run-${runs}`);
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  return { stage: r.stage, runDir, model: r.model, data: r.data, args: r.args, lora: r.lora, ...(r.rewards ? { rewards: r.rewards } : {}), python: (env as { python: string }).python, ...(r.accelerate ? { accelerate: r.accelerate } : {}), ...extra };
}

// GRPO's config has no max_length (TRL 1.16): its completions are bounded by max_completion_length.
const header = (stage: string, data: string) =>
  `model: tiny-llama\nstage: ${stage}\ndata: {train: ${data}}\nengine: trl\naccelerate: {num_processes: 2, cpu: true}\nlogging_steps: 1\n${stage === 'grpo' ? '' : 'max_length: 64\n'}per_device_train_batch_size: 2\n`;

const never = new AbortController().signal;

test('SFT on two CPU processes: TRL\'s metric names stream, checkpoints and output land in Anneal\'s layout (alpaca normalised)', { skip }, async () => {
  const j = job(`${header('sft', 'alpaca.jsonl')}max_steps: 4\nsave_steps: 2\nlearning_rate: 1.0e-3\n`);
  const c = collect();
  const result = await trainWithTrl(j, c.events, never);
  assert.equal(result.stopped, false);
  assert.equal(result.finalStep, 4);
  assert.deepEqual(c.metrics.map((m) => m.step), [1, 2, 3, 4]);
  for (const name of ['loss', 'grad_norm', 'learning_rate', 'epoch', 'entropy', 'mean_token_accuracy', 'num_tokens']) assert.equal(typeof c.metrics[0][name], 'number', name);
  assert.deepEqual(c.checkpoints.map((k) => k.step), [2, 4]);
  assert.equal(realpathSync(join(j.runDir, 'checkpoints', 'step-2')), realpathSync(join(j.runDir, 'checkpoints', 'checkpoint-2')));
  assert.ok(c.log.some((l) => /16 train record\(s\) normalised/.test(l)), 'alpaca records normalised');
  const training = c.status.find((s) => s.phase === 'training');
  assert.equal(training?.totalSteps, 4);
  assert.match(training?.backend?.device ?? '', /^TRL 1\.16\.\d+ on 2× CPU/);
  const output = readdirSync(join(j.runDir, 'output'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(output.includes(f), `${f} in ${output}`);
  console.log(`SFT: loss ${c.metrics[0].loss.toFixed(4)} -> ${c.metrics[3].loss.toFixed(4)}, ${training?.backend?.device}`);
});

test('stop saves a checkpoint and ends; resume continues after it', { skip }, async () => {
  const recipe = `${header('sft', 'sft.jsonl')}max_steps: 300\nsave_steps: 1000\nlearning_rate: 1.0e-3\n`;
  const j = job(recipe);
  const controller = new AbortController();
  const c = collect((m) => {
    if (m.step >= 2) controller.abort();
  });
  const stopped = await trainWithTrl(j, c.events, controller.signal);
  assert.equal(stopped.stopped, true);
  assert.ok(stopped.finalStep >= 2 && stopped.finalStep < 300, `stopped at ${stopped.finalStep}`);
  assert.deepEqual(c.checkpoints.map((k) => k.step), [stopped.finalStep]);
  assert.equal(existsSync(join(j.runDir, 'output')), false);
  const from = c.checkpoints[0].path;

  const r = collect();
  const resumed = await trainWithTrl({ ...j, args: { ...j.args, max_steps: stopped.finalStep + 3 }, resumeFrom: from }, r.events, never);
  assert.equal(resumed.stopped, false);
  assert.deepEqual(r.metrics.map((m) => m.step), [1, 2, 3].map((k) => stopped.finalStep + k));
  assert.ok(existsSync(join(j.runDir, 'output', 'model.safetensors')));
  console.log(`stop at step ${stopped.finalStep}, checkpoint ${from}; resume logged steps ${r.metrics.map((m) => m.step).join(', ')}`);
});

test('DPO with LoRA: preference metrics under TRL\'s names, a PEFT adapter as output', { skip }, async () => {
  const j = job(`${header('dpo', 'pairs.jsonl')}max_steps: 3\nlearning_rate: 1.0e-3\nlora: {r: 4, alpha: 8}\n`);
  const c = collect();
  const result = await trainWithTrl(j, c.events, never);
  assert.equal(result.finalStep, 3);
  for (const name of ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected']) assert.equal(typeof c.metrics[0][name], 'number', name);
  const output = readdirSync(join(j.runDir, 'output'));
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']) assert.ok(output.includes(f), `${f} in ${output}`);
  console.log(`DPO: loss ${c.metrics.map((m) => m.loss.toFixed(4)).join(', ')}; margins ${c.metrics.map((m) => m['rewards/margins'].toFixed(4)).join(', ')}`);
});

test('GRPO with the built-in rewards ported to Python: reward metrics per function and scored completions', { skip }, async () => {
  const j = job(`${header('grpo', 'prompts.jsonl')}max_steps: 2\nnum_generations: 2\nmax_completion_length: 8\nlearning_rate: 1.0e-3\nrewards: [{name: answer_match, column: answer}, {name: think_format, options: {mode: soft}}, {name: length, options: {unit: chars, target: 20}}]\n`);
  const c = collect();
  const result = await trainWithTrl(j, c.events, never);
  assert.equal(result.finalStep, 2);
  for (const name of ['reward', 'reward_std', 'frac_reward_zero_std', 'rewards/answer_match/mean', 'rewards/think_format/mean', 'rewards/length/mean', 'completions/mean_length', 'entropy']) {
    assert.equal(typeof c.metrics[0][name], 'number', name);
  }
  assert.ok(c.samples.length >= 4, `${c.samples.length} samples`);
  const s = c.samples[0].scored!;
  assert.deepEqual(Object.keys(s.rewards).sort(), ['answer_match', 'length', 'think_format']);
  assert.equal(typeof s.advantage, 'number');
  assert.equal(s.group, 0);
  console.log(`GRPO: reward ${c.metrics.map((m) => m.reward.toFixed(3)).join(', ')}, ${c.samples.length} scored completions`);
});

test('the launcher\'s stdin closing (its parent died: kill -9 of the daemon) stops the run with a checkpoint', { skip }, async () => {
  const j = job(`${header('sft', 'sft.jsonl')}max_steps: 300\nsave_steps: 1000\n`);
  const planPath = writePlan(prepareTrlPlan(j, () => {}));
  const child = spawn((env as { python: string }).python, ['-m', 'anneal_trl', 'run', planPath, '--watch-stdin'], { env: launcherEnv(), stdio: ['pipe', 'pipe', 'ignore'] });
  const kinds: string[] = [];
  let checkpoint: number | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = parseEvent(line);
    if (!e) return;
    kinds.push(e.kind);
    if (e.kind === 'metrics' && e.step >= 2) child.stdin.end();
    if (e.kind === 'checkpoint') checkpoint = e.step;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  assert.ok(kinds.includes('stopped'), kinds.join(' '));
  assert.ok(checkpoint !== undefined && checkpoint < 300 && existsSync(join(j.runDir, 'checkpoints', `step-${checkpoint}`)));
});

test('a key TRL\'s config lacks is refused before launch, in one sentence', { skip }, async () => {
  const j = job(`${header('sft', 'sft.jsonl')}max_steps: 2\ncenter_rewards_coefficient: 0.01\n`);
  const c = collect();
  const started = Date.now();
  await assert.rejects(trainWithTrl(j, c.events, never), (err: Error) => {
    assert.match(err.message, /^`center_rewards_coefficient` is not a field of TRL's SFTConfig \(TRL 1\.16\.\d+\), so TRL would refuse it; remove it/);
    return true;
  });
  assert.ok(!c.log.some((l) => l.includes('accelerate.commands.launch')), 'nothing launched');
  assert.deepEqual(readdirSync(join(j.runDir, 'checkpoints')), []);
  console.log(`bad key refused in ${Date.now() - started} ms`);
});

test('a Python without TRL gets the pip command to run', { skip }, async () => {
  const bare = join(root, 'bare-venv');
  const made = spawnSync('python3', ['-m', 'venv', '--without-pip', bare], { encoding: 'utf8' });
  if (made.status !== 0) return;
  const python = join(bare, 'bin', 'python');
  const j = job(`${header('sft', 'sft.jsonl')}max_steps: 2\n`, { python });
  await assert.rejects(trainWithTrl(j, collect().events, never), (err: Error) => {
    assert.match(err.message, new RegExp(`^The Python at ${python.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} lacks trl, transformers, accelerate, torch, datasets; run \`${python.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} -m pip install trl==1\\.16\\.0`));
    return true;
  });
});

test.after?.(() => rmSync(root, { recursive: true, force: true }));
