// A reward module read without running it: the export forms the engine's sandbox accepts pass, a module
// that certainly exports no function is caught, and syntax errors are the transpiler's, with their place.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRewardModulePath, rewardModuleFacts } from '../../../core/recipe/rewardModule.ts';

const facts = (name: string, text: string) => rewardModuleFacts(`/work/rewards/${name}`, text);

test('every export form the sandbox calls passes', () => {
  const accepted: [string, string][] = [
    ['esm.ts', 'export default function reward({ completions }: { completions: string[] }) { return completions.map(() => 1); }'],
    ['esm.js', 'export default async ({ completions }) => completions.map(() => 1);'],
    ['const.ts', 'const reward = (x: unknown) => [1];\nexport default reward;'],
    ['named-as-default.ts', 'function score() { return [1]; }\nexport { score as default };'],
    ['export-equals.ts', 'const f = () => [1];\nexport = f;'],
    ['cjs.cjs', 'module.exports = function ({ completions }) { return completions.map(() => 1); };'],
    ['cjs-ref.js', 'function reward() { return [1]; }\nmodule.exports = reward;'],
    ['cjs-default.js', 'exports.default = () => [1];'],
    ['cjs-default-object.js', 'module.exports = { default: () => [1] };'],
    ['compiled.js', '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = reward;\nfunction reward() { return [1]; }'],
    // Known only when it runs: not reported.
    ['factory.ts', 'import { make } from "./lib";\nexport default make();'],
    ['reexport.ts', 'export { default } from "./impl";'],
    ['imported.ts', 'import reward from "./impl";\nexport default reward;'],
    ['dynamic.js', 'Object.assign(module.exports, require("./impl"));'],
  ];
  for (const [name, text] of accepted) assert.deepEqual(facts(name, text), {}, name);
});

test('a module without a function to call says what it exports instead', () => {
  assert.deepEqual(facts('named.ts', 'export function reward() { return [1]; }\nexport const helper = 2;'), { noFunction: { names: ['reward', 'helper'] } });
  const object = facts('object.ts', 'function reward() { return [1]; }\nexport default { reward };');
  assert.equal(object.noFunction?.instead, 'its default export is an object');
  assert.deepEqual(object.noFunction?.at, { start: { line: 1, character: 0 }, end: { line: 1, character: 26 } });
  const cjs = facts('cjs.js', 'module.exports = { reward: () => [1] };');
  assert.deepEqual([cjs.noFunction?.instead, cjs.noFunction?.names], ['module.exports is an object', ['reward']]);
  assert.equal(facts('number.ts', 'export default 42;').noFunction?.instead, 'its default export is a number');
  assert.equal(facts('constant.ts', 'const weights = [1, 2];\nexport default weights;').noFunction?.instead, 'its default export is an array');
  assert.deepEqual(facts('empty.js', '// nothing yet\n'), { noFunction: { names: [] } });
});

test('syntax errors are placed in the module, including TypeScript syntax in a .js file', () => {
  const ts = facts('broken.ts', 'export default function reward( {\n  return 1;\n}');
  assert.deepEqual(ts.syntaxError, { message: "':' expected", range: { start: { line: 1, character: 9 }, end: { line: 1, character: 10 } } });
  const js = facts('typed.js', 'const x: number = 1;\nexport default () => [x];');
  assert.equal(js.syntaxError?.message, 'Type annotations can only be used in TypeScript files');
  assert.deepEqual(js.syntaxError?.range.start, { line: 0, character: 9 });
  // The same text as TypeScript is fine.
  assert.deepEqual(facts('typed.ts', 'const x: number = 1;\nexport default () => [x];'), {});
});

test('the result follows the text, not the path alone', () => {
  assert.ok(facts('edit.ts', 'export const x = 1;').noFunction);
  assert.deepEqual(facts('edit.ts', 'export default () => [1];'), {});
});

test('reward modules are the JavaScript and TypeScript files the engine transpiles', () => {
  for (const ok of ['a.js', 'a.mjs', 'a.cjs', 'a.ts', 'a.mts', 'a.CTS']) assert.ok(isRewardModulePath(ok), ok);
  for (const no of ['a.py', 'a.json', 'a.tsx', 'rewards']) assert.ok(!isRewardModulePath(no), no);
});
