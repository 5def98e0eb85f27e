// The TRL engine through a real daemon (issue #12): recipes with `engine: trl` (or `anneal train
// --engine trl`) go through `runs/start` like any run, train in the cached venv's Python with
// `accelerate launch` on two CPU processes (torchrun + gloo) on a tiny random Llama, and are watched
// like native runs. Checked: metrics stream under TRL's names and the replay equals metrics.jsonl,
// the backend report names TRL, the output lands in the run's output/ (full model or PEFT adapter),
// stop checkpoints and resume continues, kill -9 of the daemon leaves a checkpoint the next daemon
// resumes from, a bad key is refused before launch, a Python without TRL gets the pip command, and
// what TRL can never train is refused before a run exists.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListRuns, ResumeRun, RunSampleNotification, StartRun, StopRun, Subscribe } from '../../../core/protocol/daemon.ts';
import type { MetricRecord, RunInfo, SampleRecord } from '../../../core/protocol/runs.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import { CLI, collectMetrics, connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, waitForStatus, type TestDaemon } from '../daemon/helpers.ts';
import { makeTinyLlama, trlPython } from './python.ts';
import { checkRecipe } from '../../../core/recipe/index.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { prepareTrlPlan, writePlan } from '../../../daemon/trl/train.ts';
import { checkPlan } from '../../../daemon/trl/environment.ts';

const env = trlPython();
const skip = 'skip' in env ? env.skip : undefined;
const python = 'python' in env ? env.python : '';
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));
const root = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-trl-daemon-');
const stateDir = join(root, 'state');
const model = join(root, 'tiny-llama');
// The editor's `anneal.python` setting reaches the daemon as ANNEAL_PYTHON.
const daemonEnv = { ...process.env, ANNEAL_PYTHON: python };
let daemon: TestDaemon;
let client: DaemonClient;
let recipes = 0;

before(async () => {
  if (skip) return;
  makeTinyLlama(python, model);
  const sft = Array.from({ length: 16 }, (_, i) => ({ messages: [{ role: 'user', content: `What is ${i} plus ${i}?` }, { role: 'assistant', content: `The answer is ${2 * i}.` }] }));
  const pairs = Array.from({ length: 16 }, (_, i) => ({ prompt: `What is ${i} plus ${i}?`, chosen: `The answer is ${2 * i}.`, rejected: `I do not know ${i}.` }));
  const prompts = Array.from({ length: 8 }, (_, i) => ({ prompt: [{ role: 'user', content: `What is ${i} plus 1?` }], answer: String(i + 1) }));
  const lines = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(root, 'sft.jsonl'), lines(sft));
  writeFileSync(join(root, 'pairs.jsonl'), lines(pairs));
  writeFileSync(join(root, 'prompts.jsonl'), lines(prompts));
  // Alpaca: another tool's format, normalised to messages for TRL.
  writeFileSync(join(root, 'alpaca.jsonl'), lines(sft.map((r) => ({ instruction: r.messages[0].content, output: r.messages[1].content }))));
  daemon = await startTestDaemon(stateDir, [], daemonEnv);
  client = await connect(daemon);
});
after(async () => {
  client?.close();
  if (daemon) await stopTestDaemon(daemon);
});

// GRPO's config has no max_length (TRL 1.16): its completions are bounded by max_completion_length.
const header = (stage: string, data: string, engine = 'engine: trl\n') =>
  `model: tiny-llama\nstage: ${stage}\ndata: {train: ${data}}\n${engine}accelerate: {num_processes: 2, cpu: true}\nlogging_steps: 1\n${stage === 'grpo' ? '' : 'max_length: 64\n'}per_device_train_batch_size: 2\n`;

function recipe(text: string): string {
  const file = join(root, `r${++recipes}.anneal.yaml`);
  writeFileSync(file, text);
  return file;
}

async function start(c: DaemonClient, stage: RunInfo['stage'], text: string): Promise<RunInfo> {
  const { run } = await c.connection.sendRequest(StartRun.type, { stage, recipe: recipe(text) });
  return run;
}

const ended = (r: RunInfo) => ['completed', 'failed', 'stopped', 'interrupted'].includes(r.status);
const runDir = (id: string) => join(stateDir, 'runs', id);
const log = (id: string) => readFileSync(join(runDir(id), 'log.txt'), 'utf8');

/** Everything a fresh connection is replayed of a run (what the dashboard shows on opening it). */
async function replay(runId: string): Promise<{ metrics: MetricRecord[]; samples: SampleRecord[] }> {
  const c = await connect(daemon);
  const metrics = collectMetrics(c, () => runId);
  const samples: SampleRecord[] = [];
  c.on(RunSampleNotification.type, (p) => p.runId === runId && samples.push(p.record));
  await c.connection.sendRequest(Subscribe.type, { runId, fromStep: 0 });
  c.close();
  return { metrics, samples };
}

test('SFT on two CPU processes through the daemon: TRL\'s metric names stream, the replay equals metrics.jsonl, output in the run\'s folder', { skip }, async () => {
  let id: string | undefined;
  const live = collectMetrics(client, () => id);
  const run = await start(client, 'sft', `${header('sft', 'alpaca.jsonl')}max_steps: 4\nsave_steps: 2\nlearning_rate: 1.0e-3\ngates: {exit: {loss: "< 100"}}\n`);
  id = run.id;
  assert.equal(run.engine?.name, 'trl');
  await client.connection.sendRequest(Subscribe.type, { runId: run.id });
  const done = await waitForStatus(client, run.id, ended);
  assert.equal(done.status, 'completed', done.error ?? log(run.id));
  assert.deepEqual(live.map((m) => m.step), [1, 2, 3, 4]);
  for (const name of ['loss', 'grad_norm', 'learning_rate', 'epoch', 'entropy', 'mean_token_accuracy', 'num_tokens']) assert.equal(typeof live[0][name], 'number', name);
  assert.deepEqual(readMetricsFile(stateDir, run.id), live);
  assert.deepEqual((await replay(run.id)).metrics, live);
  assert.match(done.backend?.device ?? '', /^TRL 1\.16\.\d+ on 2× CPU/);
  assert.equal(done.totalSteps, 4);
  assert.equal(done.checkpoint?.step, 4);
  const output = readdirSync(join(runDir(run.id), 'output'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(output.includes(f), `${f} in ${output}`);
  assert.match(log(run.id), /16 train record\(s\) normalised/);
  assert.match(log(run.id), /accelerate\.commands\.launch .*--num_processes 2/);
  // Seed 004's gates judge TRL's metrics as they judge the engine's: the report a pipeline hands over on.
  const gates = JSON.parse(readFileSync(join(runDir(run.id), 'gates.json'), 'utf8')) as { passed: boolean; results: { kind: string; line: string; verdict: string }[] };
  assert.equal(gates.passed, true);
  const exit = gates.results.find((r) => r.kind === 'exit' && r.line.startsWith('loss '));
  assert.equal(exit?.verdict, 'pass', JSON.stringify(gates.results));
  assert.match(log(run.id), /gate exit: loss [\d.]+ vs < 100: pass/);
  console.log(`SFT: loss ${live[0].loss.toFixed(4)} -> ${live[3].loss.toFixed(4)} on ${done.backend?.device}`);
});

test('a rollback condition that holds stops the TRL run at once, saves nothing more, and fails it as the engine does', { skip }, async () => {
  let id: string | undefined;
  const live = collectMetrics(client, () => id);
  const run = await start(client, 'sft', `${header('sft', 'sft.jsonl')}max_steps: 40\nsave_steps: 1000\nlearning_rate: 1.0e-3\ngates: {rollback: {loss: "> 0"}}\n`);
  id = run.id;
  await client.connection.sendRequest(Subscribe.type, { runId: run.id });
  const done = await waitForStatus(client, run.id, ended);
  assert.equal(done.status, 'failed', log(run.id));
  assert.match(done.error ?? '', /^Rolled back at step 1: loss [\d.]+ vs > 0: roll back/);
  // The stop file said "rollback": the processes stopped within a step or two, and saved no checkpoint.
  assert.ok(live.length <= 3, `steps logged: ${live.map((m) => m.step)}`);
  assert.equal(existsSync(join(runDir(run.id), 'checkpoints')) && readdirSync(join(runDir(run.id), 'checkpoints')).length > 0, false);
  assert.equal(existsSync(join(runDir(run.id), 'output')), false);
  assert.match(log(run.id), /rolled back at step \d+: nothing more is saved/);
});

test('stop saves a checkpoint and ends the run; resume continues after it, each step once in metrics.jsonl', { skip }, async () => {
  let id: string | undefined;
  let stopSent = false;
  const live = collectMetrics(client, () => id);
  const run = await start(client, 'sft', `${header('sft', 'sft.jsonl')}max_steps: 30\nsave_steps: 1000\nlearning_rate: 1.0e-3\n`);
  id = run.id;
  await client.connection.sendRequest(Subscribe.type, { runId: run.id });
  const stopped = await new Promise<RunInfo>((resolve) => {
    const timer = setInterval(() => {
      if (!stopSent && live.length >= 2) {
        stopSent = true;
        void client.connection.sendRequest(StopRun.type, { runId: run.id });
      }
    }, 50);
    void waitForStatus(client, run.id, ended).then((r) => {
      clearInterval(timer);
      resolve(r);
    });
  });
  assert.equal(stopped.status, 'stopped', stopped.error ?? log(run.id));
  const at = stopped.checkpoint?.step ?? -1;
  assert.ok(at >= 2 && at < 30, `stopped with checkpoint ${at}`);
  assert.ok(existsSync(join(runDir(run.id), 'checkpoints', `step-${at}`, 'trainer_state.json')), 'TRL checkpoint behind step-N');
  assert.equal(existsSync(join(runDir(run.id), 'output')), false);

  await client.connection.sendRequest(ResumeRun.type, { runId: run.id });
  const done = await waitForStatus(client, run.id, (r) => r.resumes.length === 1 && ended(r));
  assert.equal(done.status, 'completed', done.error ?? log(run.id));
  const steps = readMetricsFile(stateDir, run.id).map((m) => m.step);
  assert.deepEqual(steps, Array.from({ length: 30 }, (_, i) => i + 1));
  assert.match(log(run.id), new RegExp(`resuming from checkpoint step ${at}`));
  assert.ok(existsSync(join(runDir(run.id), 'output', 'model.safetensors')));
  console.log(`stop: checkpoint at step ${at}; resume completed steps ${at + 1}..30`);
});

test('`anneal train dpo --engine trl` on a recipe without `engine:`: LoRA DPO, preference metrics under TRL\'s names, a PEFT adapter', { skip }, async () => {
  const path = recipe(`${header('dpo', 'pairs.jsonl', '')}max_steps: 3\nlearning_rate: 1.0e-3\nlora: {r: 4, alpha: 8}\n`);
  const r = spawnSync(process.execPath, [CLI, 'train', 'dpo', '--config', path, '--engine', 'trl', '--json', '--state-dir', stateDir], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const id = events.find((e) => e.event === 'status')?.runId as string;
  const metrics = readMetricsFile(stateDir, id);
  assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3]);
  for (const name of ['loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected']) assert.equal(typeof metrics[0][name], 'number', name);
  assert.deepEqual(events.filter((e) => e.event === 'metrics').map((e) => e.step), [1, 2, 3]);
  const output = readdirSync(join(runDir(id), 'output'));
  for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json']) assert.ok(output.includes(f), `${f} in ${output}`);
  console.log(`DPO: loss ${metrics.map((m) => m.loss.toFixed(4)).join(', ')}; margins ${metrics.map((m) => m['rewards/margins'].toFixed(4)).join(', ')}`);
});

test('GRPO with the built-in rewards ported to Python: reward metrics per function; scored completions stream and replay', { skip }, async () => {
  let id: string | undefined;
  const samples: SampleRecord[] = [];
  client.on(RunSampleNotification.type, (p) => p.runId === id && samples.push(p.record));
  const run = await start(client, 'grpo', `${header('grpo', 'prompts.jsonl')}max_steps: 2\nnum_generations: 2\nmax_completion_length: 8\nlearning_rate: 1.0e-3\nrewards: [{name: answer_match, column: answer}, {name: think_format, options: {mode: soft}}, {name: length, options: {unit: chars, target: 20}}]\n`);
  id = run.id;
  await client.connection.sendRequest(Subscribe.type, { runId: run.id });
  const done = await waitForStatus(client, run.id, ended);
  assert.equal(done.status, 'completed', done.error ?? log(run.id));
  const metrics = readMetricsFile(stateDir, run.id);
  for (const name of ['reward', 'reward_std', 'frac_reward_zero_std', 'rewards/answer_match/mean', 'rewards/think_format/mean', 'rewards/length/mean', 'completions/mean_length', 'entropy']) {
    assert.equal(typeof metrics[0][name], 'number', name);
  }
  assert.ok(samples.length >= 4, `${samples.length} samples`);
  const s = samples[0].scored!;
  assert.deepEqual(Object.keys(s.rewards).sort(), ['answer_match', 'length', 'think_format']);
  assert.equal(typeof s.advantage, 'number');
  assert.deepEqual((await replay(run.id)).samples, samples);
  console.log(`GRPO: reward ${metrics.map((m) => m.reward.toFixed(3)).join(', ')}, ${samples.length} scored completions`);
});

test('kill -9 of the daemon: the TRL processes save a checkpoint and exit; the next daemon takes up their steps and checkpoint (or trains them again when a step was lost)', { skip }, async () => {
  const dir = join(root, 'state-kill');
  const first = await startTestDaemon(dir, [], daemonEnv);
  const c = await connect(first);
  const path = recipe(`${header('sft', 'sft.jsonl')}max_steps: 300\nsave_steps: 3\nlearning_rate: 1.0e-3\n`);
  const { run } = await c.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: path });
  await c.connection.sendRequest(Subscribe.type, { runId: run.id });
  const recorded = (await waitForStatus(c, run.id, (r) => (r.checkpoint?.step ?? 0) >= 3)).checkpoint!.step;
  first.proc.kill('SIGKILL');
  await first.exited;
  // The launcher sees its stdin close when the worker exits; the training processes, their output now
  // going to trl/orphaned.log, save a checkpoint of the step they are at and exit.
  const trlDir = join(dir, 'runs', run.id, 'trl');
  const launcher = Number(readFileSync(join(trlDir, 'launcher.pid'), 'utf8'));
  const alive = () => {
    try {
      process.kill(launcher, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let waited = 0; alive() && waited < 120_000; waited += 250) await new Promise((r) => setTimeout(r, 250));
  assert.equal(alive(), false, 'the TRL launcher exited');
  const orphaned = readFileSync(join(trlDir, 'orphaned.log'), 'utf8');
  const events = orphaned.split('\n').filter((l) => l.startsWith('@anneal ')).map((l) => JSON.parse(l.slice(8)) as { kind: string; step?: number });
  assert.equal(events.at(-1)?.kind, 'stopped', orphaned.slice(-2000));
  const saved = events.filter((e) => e.kind === 'checkpoint').map((e) => e.step!);
  assert.ok(saved.length > 0 && existsSync(join(dir, 'runs', run.id, 'checkpoints', `step-${saved.at(-1)}`, 'trainer_state.json')), `a checkpoint saved after the kill (${saved})`);

  const second = await startTestDaemon(dir, [], daemonEnv);
  const c2 = await connect(second);
  try {
    const [interrupted] = (await c2.connection.sendRequest(ListRuns.type, {})).runs;
    assert.equal(interrupted.status, 'interrupted');
    await c2.connection.sendRequest(Subscribe.type, { runId: run.id });
    await c2.connection.sendRequest(ResumeRun.type, { runId: run.id });
    const done = await waitForStatus(c2, run.id, ended);
    assert.equal(done.status, 'completed', done.error);
    const steps = readMetricsFile(dir, run.id).map((m) => m.step);
    assert.deepEqual(steps, Array.from({ length: 300 }, (_, i) => i + 1));
    // Queued from the newest checkpoint the first daemon heard of; the worker then takes up what the
    // TRL processes trained alone (their metrics and the checkpoint saved after the kill), unless a
    // logged step was lost with the dying worker, in which case those steps are trained again.
    assert.ok(done.resumes[0].fromStep >= recorded && done.resumes[0].fromStep % 3 === 0, `resumed from ${done.resumes[0].fromStep}`);
    const runLog = readFileSync(join(dir, 'runs', run.id, 'log.txt'), 'utf8');
    const tookUp = /took up steps (\d+)-(\d+), trained by the TRL processes after the daemon stopped/.exec(runLog);
    const declined = /resuming from the recorded checkpoint \(step \d+\), not from what the TRL processes did after the daemon stopped: (.*)/.exec(runLog);
    assert.ok(tookUp || declined, 'the resume says what became of trl/orphaned.log');
    if (tookUp) {
      assert.equal(Number(tookUp[1]), done.resumes[0].fromStep + 1);
      assert.equal(Number(tookUp[2]), saved.at(-1));
      const plan = JSON.parse(readFileSync(join(trlDir, 'plan.json'), 'utf8')) as { resume_from_checkpoint?: string };
      assert.match(plan.resume_from_checkpoint ?? '', new RegExp(`step-${saved.at(-1)}$`), 'TRL resumed from the checkpoint saved after the kill');
    }
    assert.ok(existsSync(join(trlDir, 'orphaned.read.log')) && !existsSync(join(trlDir, 'orphaned.log')), 'the orphaned log is taken up once');
    console.log(`kill -9 after checkpoint ${recorded}: the TRL processes saved step ${saved.at(-1)} and exited; the next daemon queued it from ${done.resumes[0].fromStep}, ${tookUp ? `took up steps ${tookUp[1]}-${tookUp[2]} from orphaned.log` : `trained them again (${declined![1]})`}, to 300`);
  } finally {
    c.close();
    c2.close();
    await stopTestDaemon(second);
  }
});

test('a key TRL\'s config lacks fails the run before anything is launched, in one sentence', { skip }, async () => {
  const run = await start(client, 'sft', `${header('sft', 'sft.jsonl')}max_steps: 2\ncenter_rewards_coefficient: 0.01\n`);
  await client.connection.sendRequest(Subscribe.type, { runId: run.id });
  const done = await waitForStatus(client, run.id, ended);
  assert.equal(done.status, 'failed');
  assert.match(done.error ?? '', /^`center_rewards_coefficient` is not a field of TRL's SFTConfig \(TRL 1\.16\.\d+\), so TRL would refuse it; remove it/);
  assert.doesNotMatch(log(run.id), /accelerate\.commands\.launch/);
  assert.deepEqual(readdirSync(join(runDir(run.id), 'checkpoints')), []);
});

test('a Python without TRL gets the pip command to run, whether the recipe or the editor\'s setting names it', { skip }, async () => {
  const bare = join(root, 'bare-venv');
  const made = spawnSync('python3', ['-m', 'venv', '--without-pip', bare], { encoding: 'utf8' });
  if (made.status !== 0) return;
  const bin = join(bare, 'bin', 'python');
  const escaped = bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pipMessage = new RegExp(`^The Python at ${escaped} lacks trl, transformers, accelerate, torch, datasets; run \`${escaped} -m pip install trl==1\\.16\\.0`);
  // The recipe's `python:` wins over the request's (the editor's `anneal.python`).
  const { run: fromRecipe } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: recipe(`${header('sft', 'sft.jsonl')}max_steps: 2\npython: ${bin}\n`), python });
  // Without one in the recipe, the request's is used instead of the daemon's ANNEAL_PYTHON.
  const { run: fromSetting } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: recipe(`${header('sft', 'sft.jsonl')}max_steps: 2\n`), python: bin });
  for (const run of [fromRecipe, fromSetting]) {
    const ending = waitForStatus(client, run.id, ended);
    ending.catch(() => {}); // unused when the run had already ended
    const now = (await client.connection.sendRequest(Subscribe.type, { runId: run.id })).run;
    const done = ended(now) ? now : await ending;
    assert.equal(done.status, 'failed');
    assert.match(done.error ?? '', pipMessage);
  }
});

test('a recipe without `accelerate:` passes TRL\'s pre-launch check on a machine without a GPU (one process, fp32)', { skip }, async (t) => {
  const cuda = spawnSync(python, ['-c', 'import torch; print(torch.cuda.is_available())'], { encoding: 'utf8' });
  if (cuda.stdout.trim() !== 'False') return t.skip('this machine has a GPU');
  const file = recipe(`model: tiny-llama\nstage: sft\ndata: {train: sft.jsonl}\nengine: trl\nmax_steps: 2\n`);
  const r = checkRecipe(readFileSync(file, 'utf8'), file, nodeFiles).recipe!;
  const runDir = join(root, 'check-only');
  const plan = prepareTrlPlan({ stage: r.stage, runDir, model: r.model, data: r.data, args: r.args, lora: r.lora }, () => {});
  assert.deepEqual(plan.launch, { num_processes: 1 });
  const checked = await checkPlan(python, writePlan(plan));
  assert.equal(checked.ok, true, JSON.stringify(checked));
});

test('what TRL can never train is refused before a run exists', { skip }, async () => {
  const before = (await client.connection.sendRequest(ListRuns.type, {})).runs.length;
  const data = join(root, 'sft.jsonl');
  await assert.rejects(client.connection.sendRequest(StartRun.type, { stage: 'sft', model: 'tiny', data: { train: data }, engine: 'trl' }), /The TRL engine cannot train this run: The built-in `tiny` model is Anneal's own/);
  await assert.rejects(client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: data }, engine: 'tensorflow' as never }), /engine is "anneal" or "trl"/);
  assert.equal((await client.connection.sendRequest(ListRuns.type, {})).runs.length, before);
});
