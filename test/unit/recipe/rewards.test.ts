// The recipe checks of GRPO rewards beyond built-ins: module files (parse, export a function), trained
// reward models (folder, score head), and weights (`reward_weights` vs each reward's `weight`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileAccess } from '../../../core/fileAccess.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { checkRecipe } from '../../../core/recipe/index.ts';
import { writeCachedModel } from '../../helpers/hubCache.ts';
import { codes, fixtureDir, only, span } from './helpers.ts';

/** A GRPO recipe in a fresh folder (reward files and models go beside it), on the fixtures' prompts. */
function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-reward-checks-'));
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  const check = (rewards: string, extra = '', files: FileAccess = nodeFiles) =>
    checkRecipe(`model: tiny\nstage: grpo\ndata:\n  train: ${fixtureDir}prompts.jsonl\n${extra}rewards:\n${rewards}`, join(dir, 'r.anneal.yaml'), files);
  return { dir, write, check, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a reward module must parse: the error names its line:column and links to the place', () => {
  using ws = workspace();
  ws.write('rewards/broken.ts', 'export default function reward( {\n  return 1;\n}\n');
  const d = only(ws.check('  - name: mine\n    file: rewards/broken.ts\n'), 'recipe-reward-module-invalid');
  assert.equal(d.severity, 'error');
  assert.deepEqual(span(d), [6, 10, 6, 27]);
  assert.equal(d.message, "`rewards/broken.ts` has a syntax error at 2:10: ':' expected; fix it there.");
  assert.deepEqual(d.related, [{ file: join(ws.dir, 'rewards/broken.ts'), range: { start: { line: 1, character: 9 }, end: { line: 1, character: 10 } }, message: "':' expected" }]);
});

test('a reward module must export a function; the message says what it exports and how to fix it', () => {
  using ws = workspace();
  ws.write('named.ts', 'export function reward() { return [1]; }\n');
  ws.write('object.js', 'function reward() { return [1]; }\nexport default { reward };\n');
  ws.write('cjs.cjs', 'module.exports = { a: () => [1], b: () => [0] };\n');
  const named = only(ws.check('  - name: mine\n    file: named.ts\n'), 'recipe-reward-no-function');
  assert.equal(named.message, '`named.ts` has no default export function to call as the reward (it exports reward); add `export default reward;`.');
  assert.deepEqual(span(named), [6, 10, 6, 18]);
  const object = only(ws.check('  - name: mine\n    file: object.js\n'), 'recipe-reward-no-function');
  assert.match(object.message, /\(its default export is an object\); write `export default function reward\(\{ prompts, completions \}\) \{ … \}`\.$/);
  assert.equal(object.related?.[0]?.range.start.line, 1);
  assert.match(only(ws.check('  - name: mine\n    file: cjs.cjs\n'), 'recipe-reward-no-function').message, /\(module.exports is an object; it exports a, b\)/);
});

test('a good module passes; a folder or a non-JavaScript file is refused', () => {
  using ws = workspace();
  ws.write('ok.ts', 'export default function brevity({ completions }: { completions: string[] }) { return completions.map((c) => -c.length); }\n');
  ws.write('cjs.js', 'module.exports = ({ completions }) => completions.map(() => 1);\n');
  ws.write('reward.py', 'def reward(**kw): return [1]\n');
  mkdirSync(join(ws.dir, 'folder'));
  const ok = ws.check('  - name: brevity\n    file: ok.ts\n  - name: cjs\n    file: cjs.js\n');
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.recipe?.rewards, [{ name: 'brevity', file: join(ws.dir, 'ok.ts') }, { name: 'cjs', file: join(ws.dir, 'cjs.js') }]);
  assert.match(only(ws.check('  - name: py\n    file: reward.py\n'), 'recipe-reward-module-invalid').message, /^`reward.py` is not a JavaScript or TypeScript file; .*\(\.js, \.mjs, \.cjs, \.ts, \.mts or \.cts\)\.$/);
  assert.match(only(ws.check('  - name: f\n    file: folder\n'), 'recipe-reward-module-invalid').message, /^`folder` is a folder;/);
});

test('reward_weights: one per reward, resolved onto each reward; not beside a reward\'s own weight', () => {
  using ws = workspace();
  const two = '  - think_format\n  - name: json_valid\n';
  const ok = ws.check(two, 'reward_weights: [1, 0.5]\n');
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.recipe?.rewards, [{ name: 'think_format', weight: 1 }, { name: 'json_valid', weight: 0.5 }]);
  assert.equal((ok.recipe?.args as unknown as Record<string, unknown>).reward_weights, undefined);
  const length = only(ws.check(two, 'reward_weights: [1]\n'), 'recipe-invalid-value');
  assert.equal(length.message, 'reward_weights has 1 value for 2 rewards; give one weight per reward, in the order of `rewards`.');
  assert.deepEqual(span(length), [4, 16, 4, 19]);
  const both = only(ws.check('  - think_format\n  - name: json_valid\n    weight: 2\n', 'reward_weights: [1, 0.5]\n'), 'recipe-reward-weights-both');
  assert.equal(both.severity, 'error');
  assert.deepEqual(span(both), [8, 4, 8, 10]);
  assert.match(both.message, /^Reward `json_valid` has its own `weight` and `reward_weights` sets one too; set weights in one place/);
  assert.match(only(ws.check(two, 'reward_weights: [1, "x"]\n'), 'recipe-wrong-type').message, /number/);
});

test('weight 0 is a note (logged, not optimised), not an error', () => {
  using ws = workspace();
  const own = ws.check('  - think_format\n  - name: json_valid\n    weight: 0\n');
  const d = only(own, 'recipe-reward-weight-zero');
  assert.equal(d.severity, 'info');
  assert.deepEqual(span(d), [7, 12, 7, 13]);
  assert.equal(d.message, 'Weight 0: reward `json_valid` is computed and logged (rewards/json_valid/mean) but does not steer training; give it a weight to optimise it.');
  assert.ok(own.recipe, 'the recipe still resolves');
  const listed = only(ws.check('  - think_format\n  - json_valid\n', 'reward_weights: [0, 1]\n'), 'recipe-reward-weight-zero');
  assert.deepEqual(span(listed), [4, 17, 4, 18]);
  assert.match(listed.message, /reward `think_format`/);
});

test('reward_weights outside GRPO is unused', () => {
  using ws = workspace();
  const r = checkRecipe(`model: tiny\nstage: sft\ndata:\n  train: ${fixtureDir}chat.jsonl\nreward_weights: [1]\n`, join(ws.dir, 'r.anneal.yaml'), nodeFiles);
  assert.match(only(r, 'recipe-key-unused').message, /^`reward_weights` is only used by grpo/);
});

test('a reward model: a folder holding a sequence classifier, resolved like a file; no column', () => {
  using ws = workspace();
  ws.write('rm/full/config.json', JSON.stringify({ architectures: ['LlamaForSequenceClassification'], num_labels: 1 }));
  ws.write('rm/adapter/adapter_config.json', JSON.stringify({ task_type: 'SEQ_CLS', base_model_name_or_path: 'anneal/tiny' }));
  ws.write('policy/config.json', JSON.stringify({ architectures: ['LlamaForCausalLM'] }));
  ws.write('policy-adapter/adapter_config.json', JSON.stringify({ task_type: 'CAUSAL_LM', base_model_name_or_path: 'anneal/tiny' }));
  ws.write('notes/readme.md', 'hi');
  ws.write('weights.safetensors', '');
  const ok = ws.check('  - name: helpful\n    model: rm/full\n  - name: harmless\n    model: ./rm/adapter\n');
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.recipe?.rewards, [{ name: 'helpful', model: join(ws.dir, 'rm/full') }, { name: 'harmless', model: join(ws.dir, 'rm/adapter') }]);
  const missing = only(ws.check('  - name: helpful\n    model: runs/nope/output\n'), 'recipe-reward-model-missing');
  assert.deepEqual(span(missing), [6, 11, 6, 27]);
  assert.match(missing.message, /^Reward model `runs\/nope\/output` not found \(looked in .*runs\/nope\/output\); fix the path/);
  assert.match(only(ws.check('  - name: h\n    model: weights.safetensors\n'), 'recipe-reward-model-missing').message, /is a file; point `model` at the reward model's folder/);
  assert.match(only(ws.check('  - name: h\n    model: notes\n'), 'recipe-reward-model-missing').message, /holds no config.json or adapter_config.json/);
  for (const policy of ['policy', 'policy-adapter', 'tiny']) {
    const d = only(ws.check(`  - name: h\n    model: ${policy}\n`), 'recipe-reward-model-no-head');
    assert.match(d.message, /score head.*give the output of a reward run \(stage: reward\) or a \*ForSequenceClassification model\.$/, policy);
  }
  // The name only labels a model reward: no built-in lookup, no column.
  const col = ws.check('  - name: exact_match\n    model: rm/full\n    column: answer\n');
  assert.deepEqual(codes(col), ['recipe-key-unused']);
  assert.match(col.diagnostics[0]!.message, /^A reward model reads the prompt and completion only, no dataset column; remove `column`\.$/);
  assert.deepEqual(span(col.diagnostics[0]!), [7, 4, 7, 10]);
});

test('a reward is one of a built-in, a file, a model', () => {
  using ws = workspace();
  ws.write('ok.ts', 'export default () => [1];\n');
  ws.write('rm/config.json', JSON.stringify({ architectures: ['Qwen2ForSequenceClassification'] }));
  const d = only(ws.check('  - name: mine\n    file: ok.ts\n    model: rm\n'), 'recipe-reward-source-conflict');
  assert.equal(d.severity, 'error');
  assert.deepEqual(span(d), [7, 4, 7, 9]);
  assert.match(d.message, /names both a module `file` and a reward `model`/);
  assert.match(only(ws.check('  - brevity\n'), 'recipe-reward-unknown').message, /add `file:` naming its module; for a trained reward model, `model:` naming its folder\.$/);
});

test('a Hub id reward model stays an id; a cached snapshot is looked at', () => {
  using ws = workspace();
  const cache = join(ws.dir, 'hub');
  writeCachedModel(cache, 'org/causal', 'a'.repeat(40), new Map([['config.json', JSON.stringify({ architectures: ['LlamaForCausalLM'] })]]), 'main');
  writeCachedModel(cache, 'org/rm', 'b'.repeat(40), new Map([['config.json', JSON.stringify({ architectures: ['LlamaForSequenceClassification'] })]]), 'main');
  const files: FileAccess = { ...nodeFiles, hubCache: () => cache };
  const ok = ws.check('  - name: rm\n    model: org/rm\n  - name: online\n    model: org/not-cached\n', '', files);
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.recipe?.rewards, [{ name: 'rm', model: 'org/rm' }, { name: 'online', model: 'org/not-cached' }]);
  assert.deepEqual(codes(ws.check('  - name: c\n    model: org/causal\n', '', files)), ['recipe-reward-model-no-head']);
});

test('PPO\'s reward_model_path gets the reward-model checks, and a PPO recipe without one is told to add it', () => {
  using ws = workspace();
  const ppo = (extra: string) => checkRecipe(`model: tiny\nstage: ppo\ndata:\n  train: ${fixtureDir}prompts.jsonl\n${extra}`, join(ws.dir, 'r.anneal.yaml'), nodeFiles);
  assert.match(only(ppo(''), 'recipe-rewards-missing').message, /PPO scores each response with a trained reward model; add `reward_model_path:`/);
  const missing = only(ppo('reward_model_path: runs/reward/output\n'), 'recipe-reward-model-missing');
  assert.equal(missing.severity, 'error');
  assert.match(missing.message, /Reward model `runs\/reward\/output` not found/);
  assert.match(only(ppo('reward_model_path: tiny\n'), 'recipe-reward-model-no-head').message, /without a score head/);
});
