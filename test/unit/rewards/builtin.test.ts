// Built-in GRPO rewards on tricky inputs: answer extraction and comparison, format, regex, JSON, length,
// the registry's option checks and TRL's return-value contract.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerTag, boxed, lastNumber, parseNumber, referenceAnswer } from '../../../core/rewards/answer.ts';
import { jsonText } from '../../../core/rewards/json.ts';
import { textLength } from '../../../core/rewards/length.ts';
import {
  BUILTIN_REWARDS,
  checkRewardValues,
  completionText,
  createBuiltinReward,
  findBuiltinReward,
  rewardColumns,
  rewardOptionProblems,
  suggestBuiltinReward,
  type RewardConfig,
  type RewardContext,
} from '../../../core/rewards/index.ts';

/** Score completions with a built-in; columns are forwarded like TRL's kwargs. */
function score(config: RewardConfig, completions: unknown[], columns: Record<string, unknown> = {}, context: RewardContext = {}) {
  const fn = createBuiltinReward(config, context);
  return fn({ prompts: completions.map(() => 'q'), completions: completions as string[], ...columns });
}

test('answer extraction: last <answer>, innermost when nested, balanced \\boxed, last number', () => {
  assert.equal(answerTag('<answer>1</answer> then <answer> 2 </answer>'), ' 2 ');
  assert.equal(answerTag('<answer>x <answer>5</answer></answer>'), '5');
  assert.equal(answerTag('<answer>7</answer> and a truncated <answer>8'), '7');
  assert.equal(answerTag('no tags'), undefined);
  assert.equal(boxed('so \\boxed{\\frac{3}{4}} and \\boxed{x^{2}+1}'), 'x^{2}+1');
  assert.equal(boxed('\\boxed{\\{1,2\\}}'), '\\{1,2\\}');
  assert.equal(boxed('\\boxed 5.'), '5');
  assert.equal(boxed('\\boxed{unclosed'), undefined);
  assert.equal(lastNumber('Step 1: 12 apples, then 1,000.50 dollars.'), '1,000.50');
  assert.equal(lastNumber('x-5 and then -7'), '-7');
  assert.equal(lastNumber('v2 has none'), undefined);
});

test('numbers as answers are written: commas, exponents, fractions, currency, units, unicode', () => {
  const cases: [string, number | undefined][] = [
    ['1,000', 1000], ['1e3', 1000], ['1.5E-3', 0.0015], ['3/4', 0.75], ['-3/4', -0.75], ['\\frac{3}{4}', 0.75], ['\\dfrac{-1}{2}', -0.5],
    ['$5', 5], ['-$5', -5], ['\\$5.00', 5], ['€12', 12], ['42.', 42], ['5 apples', 5], ['50%', 50], ['12 km', 12],
    ['−7', -7], ['４２', 42], ['.5', 0.5], ['(3)', 3],
    ['1,00', undefined], ['1/0', undefined], ['abc', undefined], ['', undefined], ['3 + 2 = 5', undefined], ['1.2.3', undefined],
  ];
  for (const [text, expected] of cases) assert.equal(parseNumber(text), expected, text);
});

test('references: numbers, text, GSM8K #### tails and \\boxed solutions; empty is no reference', () => {
  assert.equal(referenceAnswer(42), '42');
  assert.equal(referenceAnswer('Natalia sold 48/2 = 24 clips.\n#### 72'), '72');
  assert.equal(referenceAnswer('The answer is \\boxed{\\frac{1}{2}}.'), '\\frac{1}{2}');
  assert.equal(referenceAnswer('  Paris '), 'Paris');
  for (const empty of [null, undefined, '', '   ', Number.NaN, {}]) assert.equal(referenceAnswer(empty), undefined);
});

test('answer_match (and its recipe name exact_match) scores 1, 0 or null per completion', () => {
  const completions = [
    '<think>2+2 is 4</think><answer>4</answer>',
    '<think>hmm</think><answer>5</answer>',
    'The result is \\boxed{4}.',
    'I think 3, no wait, 4.',
    '',
    '<answer>four</answer>',
  ];
  assert.deepEqual(score({ name: 'answer_match' }, completions, { answer: Array(6).fill('4') }), [1, 0, 1, 1, 0, 0]);
  assert.deepEqual(score({ name: 'exact_match' }, completions, { answer: Array(6).fill(4) }), [1, 0, 1, 1, 0, 0]);
  // Rows without a reference are not scored; a missing column leaves every row unscored.
  assert.deepEqual(score({ name: 'exact_match' }, ['<answer>4</answer>', '<answer>4</answer>', 'x'], { answer: ['4', null, ''] }), [1, null, null]);
  assert.deepEqual(score({ name: 'exact_match' }, ['<answer>4</answer>', 'x'], {}), [null, null]);
  assert.deepEqual(score({ name: 'exact_match', column: 'solution' }, ['<answer>72</answer>'], { solution: ['... #### 72'] }), [1]);
});

test('answer_match compares numbers within the tolerance and text without case or spacing', () => {
  const n = (answer: string, reference: string, options?: Record<string, unknown>) => score({ name: 'answer_match', options }, [`<answer>${answer}</answer>`], { answer: [reference] })[0];
  assert.equal(n('1,000', '1000'), 1);
  assert.equal(n('1e3', '1,000'), 1);
  assert.equal(n('0.75', '3/4'), 1);
  assert.equal(n('$5', '5'), 1);
  assert.equal(n('5 dollars.', '5'), 1);
  assert.equal(n('The answer is 18', '18'), 1, 'a sentence in the tag: its last number');
  assert.equal(n('\\boxed{-2}', '-2'), 1, 'a boxed answer inside the tag');
  assert.equal(n('-5', '5'), 0, 'the sign counts');
  assert.equal(n('0.333', '1/3'), 0, 'default tolerance 1e-6 relative');
  assert.equal(n('0.333', '1/3', { tolerance: 0.01 }), 1);
  assert.equal(n('10.4', '10', { tolerance: 0.5, tolerance_mode: 'absolute' }), 1);
  assert.equal(n('10.6', '10', { tolerance: 0.5, tolerance_mode: 'absolute' }), 0);
  assert.equal(n('0', '0'), 1);
  assert.equal(n('  New   York. ', 'new york'), 1);
  assert.equal(n('巴黎', '巴黎'), 1, 'unicode text');
  assert.equal(n('４２', '42'), 1, 'full-width digits');
  assert.equal(n('Paris', 'London'), 0);
  // Text references compare the tag, else the boxed answer, else the whole completion.
  assert.deepEqual(score({ name: 'answer_match' }, ['Paris.', 'It is \\boxed{\\text{Paris}}'], { answer: ['paris', 'Paris'] }), [1, 1]);
});

test('conversational completions: the last assistant message is scored', () => {
  const conv = [
    [{ role: 'assistant', content: '<think>a</think><answer>4</answer>' }],
    [{ role: 'assistant', content: '<answer>9</answer>' }, { role: 'tool', content: '<answer>4</answer>' }],
    [{ role: 'assistant', content: [{ type: 'text', text: '<think>a</think>' }, { type: 'text', text: '<answer>4</answer>' }] }],
    [{ content: '<answer>4</answer>' }],
    [],
  ];
  assert.deepEqual(score({ name: 'exact_match' }, conv, { answer: Array(5).fill('4') }), [1, 0, 1, 1, 0]);
  assert.deepEqual(score({ name: 'think_format' }, conv), [1, 0, 1, 0, 0]);
  assert.equal(completionText([{ role: 'user', content: 'hi' }]), '');
});

test('wrong lengths and wrong input shapes throw a message naming the reward', () => {
  const fn = createBuiltinReward({ name: 'exact_match' });
  assert.throws(() => fn({ prompts: ['a'], completions: ['1', '2'] }), /exact_match: 1 prompts for 2 completions/);
  assert.throws(() => fn({ prompts: ['a', 'b'], completions: ['1', '2'], answer: ['1'] }), /column `answer` has 1 values for 2 completions/);
  assert.throws(() => fn({ prompts: ['a'], completions: ['1'], answer: '1' }), /column `answer` must be a list/);
  assert.throws(() => fn({ prompts: [], completions: 'x' as unknown as string[] }), /`completions` must be a list/);
  assert.deepEqual(fn({ prompts: [], completions: [], answer: [] }), []);
});

test('think_format: strict DeepSeek-R1 format, and a soft variant with partial credit', () => {
  const completions = [
    '<think>\nreasoning\n</think>\n<answer>\n4\n</answer>',
    '  <think>a</think><answer>4</answer>\n',
    '<think>a</think> extra <answer>4</answer>',
    '<answer>4</answer><think>a</think>',
    '<think>a</think><answer>4</answer> trailing',
    '<think>a<think>b</think></think><answer>4</answer>',
    '<think>a</think><answer>4</answer><answer>5</answer>',
    '<think>a</think>',
    '<answer>4</answer>',
    '<think>思考 🤔</think><answer>答案</answer>',
    '',
  ];
  assert.deepEqual(score({ name: 'think_format' }, completions), [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(score({ name: 'format', options: { mode: 'soft' } }, completions), [1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 1, 0]);
});

test('regex: a fixed pattern with flags, or a pattern per row from a column', () => {
  assert.deepEqual(score({ name: 'regex', options: { pattern: '^\\d+$' } }, ['123', '12a', '']), [1, 0, 0]);
  assert.deepEqual(score({ name: 'regex', options: { pattern: 'hello', flags: 'i' } }, ['HeLLo there', 'bye']), [1, 0]);
  // The g flag would make test() stateful across completions; it is dropped.
  assert.deepEqual(score({ name: 'regex', options: { pattern: 'a', flags: 'g' } }, ['a', 'a', 'a']), [1, 1, 1]);
  assert.deepEqual(score({ name: 'regex', options: { pattern: '\\p{Script=Han}', flags: 'u' } }, ['中文', 'latin']), [1, 0]);
  assert.deepEqual(score({ name: 'regex', column: 'pattern' }, ['abc', 'abc', 'abc', 'abc'], { pattern: ['^a', 'z', null, '('] }), [1, 0, null, null]);
  assert.throws(() => createBuiltinReward({ name: 'regex', options: { pattern: '(' } }), /pattern `\(` is not a valid regular expression/);
  assert.throws(() => createBuiltinReward({ name: 'regex' }), /regex needs a pattern/);
});

test('json_valid: the last ```json fence, else an untagged fence, else the whole text', () => {
  assert.equal(jsonText('Here:\n```json\n{"a": 1}\n```\nand\n```json\n{"b": 2}\n```'), '{"b": 2}');
  assert.equal(jsonText('```\n[1, 2]\n```'), '[1, 2]');
  assert.equal(jsonText('```python\nx = 1\n```\n```json\n{}\n```'), '{}');
  const completions = ['{"a": 1}', 'Sure!\n```json\n{"a": [1, 2]}\n```', '{"a": 1,}', '```json\n{oops}\n```', '', '  "ünïcødé ✓"  ', 'null'];
  assert.deepEqual(score({ name: 'json_valid' }, completions), [1, 1, 0, 0, 0, 1, 1]);
});

test('json_schema: inline, from a file the caller reads, or per row; violations score 0', () => {
  const schema = { type: 'object', required: ['name', 'age'], properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0 } }, additionalProperties: false };
  const completions = [
    '{"name": "Ada", "age": 36}',
    '```json\n{"name": "Ada", "age": 36}\n```',
    '{"name": "Ada"}',
    '{"name": "Ada", "age": -1}',
    '{"name": "Ada", "age": 36, "extra": true}',
    '{"name": "Ada", "age": 36.5}',
    'not json',
  ];
  assert.deepEqual(score({ name: 'json_schema', options: { schema } }, completions), [1, 1, 0, 0, 0, 0, 0]);
  const files: Record<string, string> = { '/r/person.json': JSON.stringify(schema), '/r/bad.json': '{' };
  const context: RewardContext = { readText: (p) => files[p], resolvePath: (p) => `/r/${p}` };
  assert.deepEqual(score({ name: 'json_schema', options: { schema_file: 'person.json' } }, completions.slice(0, 3), {}, context), [1, 1, 0]);
  assert.throws(() => createBuiltinReward({ name: 'json_schema', options: { schema_file: 'gone.json' } }, context), /`gone.json` not found \(looked in \/r\/gone.json\)/);
  assert.throws(() => createBuiltinReward({ name: 'json_schema', options: { schema_file: 'bad.json' } }, context), /`bad.json` is not JSON/);
  assert.throws(() => createBuiltinReward({ name: 'json_schema', options: { schema: { type: 'objekt' } } }), /JSON Schema is invalid/);
  // 2020-12 schemas and unknown formats/keywords are accepted.
  const modern = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'array', prefixItems: [{ type: 'number' }], items: false, title: 'pair', 'x-vendor': 1 };
  assert.deepEqual(score({ name: 'json_schema', options: { schema: modern } }, ['[1]', '[1, 2]', '["a"]']), [1, 0, 0]);
  assert.deepEqual(score({ name: 'json_schema', options: { schema: { type: 'string', format: 'email' } } }, ['"not an email"']), [1], 'formats are not enforced');
  // Per-row schemas (objects or JSON text); a row without a usable schema is unscored.
  assert.deepEqual(
    score({ name: 'json_schema', column: 'schema' }, ['1', '"a"', '1', '1'], { schema: [{ type: 'number' }, '{"type": "number"}', null, '{broken'] }),
    [1, 0, null, null],
  );
});

test('length: target in chars or words, a penalty past max, per-row targets, and the DAPO default in tokens', () => {
  assert.deepEqual(score({ name: 'length', options: { target: 10 } }, ['x'.repeat(10), 'x'.repeat(5), 'x'.repeat(15), 'x'.repeat(20), 'x'.repeat(30), '']), [1, 0.5, 0.5, 0, 0, 0]);
  assert.equal(textLength('😀é中', 'chars'), 3, 'code points, not UTF-16 units');
  assert.equal(textLength('我爱北京 hello, world!', 'words'), 5);
  assert.equal(textLength('', 'words'), 0);
  assert.deepEqual(score({ name: 'length', options: { target: 2, unit: 'words' } }, ['one two', 'one two three four', '😀😀']), [1, 0, 0]);
  assert.deepEqual(score({ name: 'length', options: { max: 10 } }, ['x'.repeat(10), 'x'.repeat(15), 'x'.repeat(20), 'x'.repeat(100)]), [0, -0.5, -1, -1]);
  assert.deepEqual(score({ name: 'length', options: { max: 10, ramp: 20 } }, ['x'.repeat(15)]), [-0.25]);
  assert.deepEqual(score({ name: 'length', options: { max: 0 } }, ['', 'x']), [0, -1]);
  assert.deepEqual(score({ name: 'len', column: 'target' }, ['abcd', 'abcd', 'abcd'], { target: [4, 8, null] }), [1, 0.5, null]);
  // TRL's get_soft_overlong_punishment(100, 20): 90 tokens -> -0.5.
  const dapo = createBuiltinReward({ name: 'length' }, { max_completion_length: 100 });
  const ids = [80, 90, 100, 101].map((n) => Array(n).fill(1));
  assert.deepEqual(dapo({ prompts: ['', '', '', ''], completions: ['', '', '', ''], completion_ids: ids }), [0, -0.5, -1, -1]);
  assert.throws(() => dapo({ prompts: [''], completions: [''] }), /unit tokens needs `completion_ids`/);
});

test('the registry: names, aliases, columns, suggestions and option checks', () => {
  assert.deepEqual(Object.keys(BUILTIN_REWARDS), ['answer_match', 'think_format', 'regex', 'json_valid', 'json_schema', 'length']);
  assert.equal(findBuiltinReward('exact_match'), BUILTIN_REWARDS.answer_match);
  assert.equal(findBuiltinReward('format'), BUILTIN_REWARDS.think_format);
  assert.equal(suggestBuiltinReward('exact_mach'), 'exact_match');
  assert.equal(suggestBuiltinReward('jsonschema'), 'json_schema');
  assert.equal(suggestBuiltinReward('something_else'), undefined);
  assert.deepEqual(rewardColumns(BUILTIN_REWARDS.answer_match, {}), ['answer']);
  assert.deepEqual(rewardColumns(BUILTIN_REWARDS.answer_match, { column: 'solution' }), ['solution']);
  assert.deepEqual(rewardColumns(BUILTIN_REWARDS.regex, {}), []);
  assert.deepEqual(rewardColumns(BUILTIN_REWARDS.think_format, { column: 'x' }), []);
  const problems = (name: string, options: Record<string, unknown>) => rewardOptionProblems(findBuiltinReward(name)!, { name, options }).map((p) => [p.key, p.kind, p.message]);
  assert.deepEqual(problems('exact_match', { tolerence: 0.1 }), [['tolerence', 'unknown-key', 'answer_match has no option `tolerence`; did you mean `tolerance`?']]);
  assert.deepEqual(problems('json_valid', { strict: true }), [['strict', 'unknown-key', 'json_valid has no option `strict`; it takes no options.']]);
  assert.deepEqual(problems('exact_match', { tolerance: '0.1' }), [['tolerance', 'wrong-type', '`tolerance` must be a number (default 0.000001); got "0.1".']]);
  assert.deepEqual(problems('exact_match', { tolerance: -1 }), [['tolerance', 'invalid-value', '`tolerance` must be at least 0; got -1.']]);
  assert.deepEqual(problems('think_format', { mode: 'sfot' }), [['mode', 'invalid-value', '`mode` must be one of strict, soft; got "sfot"; did you mean `soft`?']]);
  assert.deepEqual(problems('length', { target: 10, max: 20 }), [['max', 'invalid-value', 'length takes `target` (reward closeness) or `max` (penalise beyond), not both; remove one.']]);
  assert.deepEqual(problems('length', { target: 0 }), [['target', 'invalid-value', '`target` must be above 0; got 0.']]);
  assert.deepEqual(problems('regex', { pattern: 'a', flags: 'ii' }).map((p) => p[0]), ['flags']);
  assert.deepEqual(problems('json_schema', { schema: [] }).map((p) => p[1]), ['wrong-type']);
  assert.throws(() => createBuiltinReward({ name: 'exact_mach' }), /`exact_mach` is not a built-in reward; did you mean `exact_match`\?/);
  for (const reward of Object.values(BUILTIN_REWARDS)) {
    assert.ok(reward.description.length > 20, reward.name);
    for (const [key, spec] of Object.entries(reward.options)) assert.ok(spec.description, `${reward.name}.${key}`);
  }
});

test('checkRewardValues enforces TRL\'s contract on any reward function\'s result', () => {
  assert.deepEqual(checkRewardValues('f', [1, null, undefined, Number.NaN, 0.5, true], 6), [1, null, null, null, 0.5, 1]);
  assert.throws(() => checkRewardValues('f', [1], 2), /Reward f returned 1 values for 2 completions/);
  assert.throws(() => checkRewardValues('f', 1, 1), /Reward f returned number, not a list/);
  assert.throws(() => checkRewardValues('f', ['1'], 1), /returned "1" \(a string\) for completion 0/);
  assert.throws(() => checkRewardValues('f', [Infinity], 1), /returned Infinity/);
});
