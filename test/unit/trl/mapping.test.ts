// The TRL engine's pure parts: a recipe's engine keys checked and resolved, the mapping of a resolved
// recipe to TRL's trainer, config keyword arguments, PEFT config, rewards and launch settings, the data
// normalisation and the event lines.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, codes, only } from '../recipe/helpers.ts';
import { trlPlan, TRL_TRAINERS } from '../../../daemon/trl/mapping.ts';
import { trlRecords } from '../../../daemon/trl/data.ts';
import { parseEvent } from '../../../daemon/trl/events.ts';
import type { ResolvedRecipe } from '../../../core/recipe/types.ts';

const MODEL = 'model'; // test/fixtures/recipe/model: a folder the checks accept

function resolved(text: string): ResolvedRecipe {
  const r = check(text);
  assert.ok(r.recipe, JSON.stringify(r.diagnostics, null, 1));
  return r.recipe;
}

function plan(text: string) {
  const result = trlPlan({ recipe: resolved(text), runDir: '/runs/r1' });
  assert.ok('plan' in result, JSON.stringify(result));
  return result;
}

test('recipe: engine trl resolves python (relative to the recipe) and accelerate; without it they are unused', () => {
  const r = resolved(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\npython: .venv/bin/python\naccelerate: {num_processes: 2, cpu: true}\n`);
  assert.equal(r.engine, 'trl');
  assert.match(r.python!, /fixtures\/recipe\/\.venv\/bin\/python$/);
  assert.deepEqual(r.accelerate, { num_processes: 2, cpu: true });
  assert.equal(resolved(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\npython: python3.11\n`).python, 'python3.11');
  const anneal = check(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\npython: python3\n`);
  assert.match(only(anneal, 'recipe-key-unused').message, /only read by the TRL engine/);
  assert.equal(resolved(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\n`).engine, undefined);
});

test('recipe: what TRL cannot run is an error before any launch (PPO, the tiny model, DeepSpeed with FSDP, mixed precision on CPU)', () => {
  const ppo = check(`model: ${MODEL}\nstage: ppo\ndata: {train: prompts.jsonl}\nreward_model_path: model\nengine: trl\n`);
  assert.match(ppo.diagnostics.find((d) => d.message.includes('no PPO trainer'))!.message, /TRL 1\.16 has no PPO trainer/);
  assert.ok(check('model: tiny\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\n').diagnostics.some((d) => d.severity === 'error' && /Hugging Face model/.test(d.message)));
  const both = check(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\naccelerate: {use_deepspeed: true, use_fsdp: true}\n`);
  assert.ok(both.diagnostics.some((d) => /not both/.test(d.message)));
  const cpu = check(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\naccelerate: {cpu: true, mixed_precision: bf16}\n`);
  assert.ok(cpu.diagnostics.some((d) => /needs a GPU/.test(d.message)));
  assert.ok(codes(check(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\nengine: trl\naccelerate: {bogus: 1}\n`)).includes('recipe-unknown-key'));
});

test('recipe: with engine trl a reward file is a Python module; a TypeScript one is refused', () => {
  const grpo = (file: string) => `model: ${MODEL}\nstage: grpo\ndata: {train: prompts.jsonl}\nengine: trl\nrewards: [{name: fmt, file: ${file}}]\n`;
  assert.match(only(check(grpo('rewards/format.ts')), 'recipe-reward-module-invalid').message, /not a Python file/);
  assert.match(only(check(grpo('rewards/missing.py')), 'recipe-reward-file-missing').message, /not found/);
});

test('every stage but PPO maps to its TRL trainer; PPO is refused with the reason', () => {
  const data: Record<string, string> = { sft: 'chat.jsonl', cpt: 'text.jsonl', dpo: 'preference.jsonl', orpo: 'preference.jsonl', cpo: 'preference.jsonl', simpo: 'preference.jsonl', reward: 'preference.jsonl' };
  for (const [stage, file] of Object.entries(data)) {
    const { plan: p } = plan(`model: ${MODEL}\nstage: ${stage}\ndata: {train: ${file}}\n`);
    assert.deepEqual(p.trainer, TRL_TRAINERS[stage as keyof typeof TRL_TRAINERS], stage);
  }
  assert.equal(TRL_TRAINERS.kto.trainer, 'KTOTrainer');
  assert.equal(TRL_TRAINERS.cpo.module, 'trl.experimental.cpo');
  const sft = resolved(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\n`);
  const ppo = trlPlan({ recipe: { ...sft, stage: 'ppo' }, runDir: '/runs/r1' });
  assert.ok('refusal' in ppo && /no PPO trainer/.test(ppo.refusal));
});

test('config: recipe keys pass by name; Anneal defaults TRL does not share are left to TRL; Anneal sets output, logging and precision', () => {
  const { plan: p, notes } = plan(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl, eval: chat.jsonl}\nlearning_rate: 1.0e-4\nmax_steps: 5\nlogging_steps: 1\nengine: trl\naccelerate: {num_processes: 2, cpu: true}\n`);
  assert.equal(p.config.learning_rate, 1e-4);
  assert.equal(p.key_origins.learning_rate, 'the recipe');
  assert.equal(p.config.max_steps, 5);
  assert.equal(p.key_origins.per_device_train_batch_size, "Anneal's default");
  for (const key of ['assistant_only_loss', 'gradient_checkpointing', 'completion_only_loss', 'eval_steps', 'load_in_4bit']) assert.equal(p.config[key], undefined, key);
  // Anneal's assistant_only_loss is carried by the data instead (prompt/completion; see the data test).
  assert.ok(!notes.some((n) => n.startsWith('assistant_only_loss')));
  assert.equal(p.config.output_dir, '/runs/r1/checkpoints');
  assert.equal(p.config.eval_strategy, 'steps');
  assert.equal(p.config.use_cpu, true);
  assert.equal(p.config.bf16, false);
  assert.equal(p.config.report_to, 'none');
  assert.deepEqual(p.launch, { num_processes: 2, cpu: true });
  assert.equal(p.output_dir, '/runs/r1/output');
  assert.equal(p.stop_file, '/runs/r1/trl/stop');
  assert.equal(p.peft, null);
  // A key the recipe sets for another stage passes as "the recipe's": the launcher refuses it if TRL's config lacks it.
  const { plan: q } = plan(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\ncenter_rewards_coefficient: 0.01\nassistant_only_loss: false\n`);
  assert.equal(q.key_origins.center_rewards_coefficient, 'the recipe');
  assert.equal(q.config.assistant_only_loss, false);
});

test('SimPO is CPOTrainer with loss_type simpo, beta 2 and cpo_alpha 0; LoRA becomes a PEFT LoraConfig (SEQ_CLS for reward models)', () => {
  const { plan: p } = plan(`model: ${MODEL}\nstage: simpo\ndata: {train: preference.jsonl}\nlora: {r: 8, alpha: 16}\n`);
  assert.equal(p.trainer.trainer, 'CPOTrainer');
  assert.equal(p.config.loss_type, 'simpo');
  assert.equal(p.config.beta, 2);
  assert.equal(p.config.cpo_alpha, 0);
  assert.deepEqual(p.peft, { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: 'all-linear', task_type: 'CAUSAL_LM' });
  const { plan: rm } = plan(`model: ${MODEL}\nstage: reward\ndata: {train: preference.jsonl}\nlora: {}\n`);
  assert.equal(rm.peft?.task_type, 'SEQ_CLS');
});

test('models: a folder, a GGUF file in its folder, a Hub id with its revision; tiny and Ollama names refused', () => {
  const base = resolved(`model: ${MODEL}\nstage: sft\ndata: {train: chat.jsonl}\n`);
  const at = (model: string) => trlPlan({ recipe: { ...base, model }, runDir: '/r' });
  assert.deepEqual((at('/m/llama') as { plan: { model: unknown } }).plan.model, { path: '/m/llama' });
  assert.deepEqual((at('/m/q/model.Q8_0.gguf') as { plan: { model: unknown } }).plan.model, { path: '/m/q', gguf_file: 'model.Q8_0.gguf' });
  assert.deepEqual((at('org/name@v1.0') as { plan: { model: unknown } }).plan.model, { path: 'org/name', revision: 'v1.0' });
  assert.match((at('tiny') as { refusal: string }).refusal, /Anneal's own/);
  assert.match((at('llama3:8b') as { refusal: string }).refusal, /Ollama/);
});

test('GRPO rewards: built-ins by canonical name (ported ones), Python files, reward models; weights to reward_weights; the rest refused', () => {
  const base = `model: ${MODEL}\nstage: grpo\ndata: {train: prompts.jsonl}\nnum_generations: 4\nper_device_train_batch_size: 4\n`;
  const r = resolved(`${base}rewards: [think_format]\n`);
  const mapped = trlPlan({ recipe: { ...r, rewards: [{ name: 'exact_match' }, { name: 'think_format', options: { mode: 'soft' } }, { name: 'think_format', weight: 0.5 }] }, runDir: '/r' });
  assert.ok('plan' in mapped);
  const p = mapped.plan;
  assert.deepEqual(p.rewards, [
    { name: 'exact_match', builtin: 'answer_match' },
    { name: 'think_format', builtin: 'think_format', options: { mode: 'soft' } },
    { name: 'think_format', builtin: 'think_format' },
  ]);
  assert.deepEqual(p.config.reward_weights, [1, 1, 0.5]);
  const refused = (rewards: ResolvedRecipe['rewards']) => trlPlan({ recipe: { ...r, rewards }, runDir: '/r' }) as { refusal: string };
  assert.match(refused([{ name: 'json_schema', options: { schema: {} } }]).refusal, /no Python port yet/);
  assert.match(refused([{ name: 'mine', file: '/x/mine.ts' }]).refusal, /TRL calls Python/);
  const ok = trlPlan({ recipe: { ...r, rewards: [{ name: 'mine', file: '/x/mine.py' }, { name: 'rm', model: '/x/rm' }] }, runDir: '/r' });
  assert.ok('plan' in ok);
  assert.deepEqual(ok.plan.rewards, [{ name: 'mine', file: '/x/mine.py' }, { name: 'rm', model: '/x/rm' }]);
});

test('data: TRL-readable records stay as written; other tools\' formats become TRL\'s form; what TRL cannot hold is refused', () => {
  const native = ['{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}', '{"prompt":"a","completion":"b"}', '{"prompt":"p","chosen":"c","rejected":"r"}'];
  assert.deepEqual(trlRecords(native.join('\n') + '\n', 'f.jsonl'), { lines: native, converted: 0, split: 0, multiTurn: 0 });
  const alpaca = trlRecords('{"instruction":"Say hi","output":"Hi!"}\n', 'f.jsonl');
  assert.ok('lines' in alpaca && alpaca.converted === 1);
  assert.deepEqual(JSON.parse(alpaca.lines[0]).messages.map((m: { role: string }) => m.role), ['user', 'assistant']);
  const ranking = trlRecords('{"conversations":[{"from":"human","value":"q"}],"chosen":{"from":"gpt","value":"good"},"rejected":{"from":"gpt","value":"bad"}}\n', 'f.jsonl');
  assert.ok('lines' in ranking);
  assert.deepEqual(Object.keys(JSON.parse(ranking.lines[0])).sort(), ['chosen', 'prompt', 'rejected']);
  const weighted = trlRecords('{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","weight":0}]}\n', 'w.jsonl');
  assert.ok('refusal' in weighted || weighted.converted === 0);
  assert.match((trlRecords('[1,2]\n', 'bad.jsonl') as { refusal: string }).refusal, /Line 1 of bad\.jsonl is not a JSON object/);
});

test('data with assistant_only_loss: single-answer conversations become prompt/completion (TRL trains the answer only); several answers stay whole and are counted', () => {
  const single = '{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}],"tools":[]}';
  const multi = '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}';
  const alpaca = '{"instruction":"Say hi","output":"Hi!"}';
  const r = trlRecords([single, multi, alpaca, '{"prompt":"a","completion":"b"}'].join('\n'), 'f.jsonl', true);
  assert.ok('lines' in r);
  assert.deepEqual(JSON.parse(r.lines[0]), { tools: [], prompt: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }], completion: [{ role: 'assistant', content: 'yo' }] });
  assert.equal(r.lines[1], multi);
  assert.deepEqual(JSON.parse(r.lines[2]).completion, [{ role: 'assistant', content: 'Hi!' }]);
  assert.equal(r.lines[3], '{"prompt":"a","completion":"b"}');
  assert.deepEqual({ converted: r.converted, split: r.split, multiTurn: r.multiTurn }, { converted: 2, split: 2, multiTurn: 1 });
  // Without it, conversations stay messages.
  assert.equal((trlRecords(single, 'f.jsonl') as { lines: string[] }).lines[0], single);
});

test('events: @anneal lines are events, everything else is log', () => {
  assert.deepEqual(parseEvent('@anneal {"kind":"metrics","step":3,"metrics":{"loss":1.5}}'), { kind: 'metrics', step: 3, metrics: { loss: 1.5 } });
  assert.equal(parseEvent("{'loss': 1.5}"), undefined);
  assert.equal(parseEvent('@anneal {"kind":"nope"}'), undefined);
  assert.equal(parseEvent('@anneal {broken'), undefined);
});
