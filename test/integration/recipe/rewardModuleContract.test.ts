// The recipe checker's static reading of a reward module agrees with the engine's sandbox, which loads
// it for real: every module the checker lets through loads and yields a function, every one it
// reports fails to load for the reason it gives (no function, or a syntax error on the same line).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rewardModuleFacts } from '../../../core/recipe/rewardModule.ts';
import { UserReward } from '../../../daemon/engine/rewards/userReward.ts';

const MODULES: Record<string, string> = {
  'esm.ts': 'export default function reward({ completions }: { completions: string[] }) { return completions.map(() => 1); }',
  'esm-arrow.mjs': 'export default async ({ completions }) => completions.map(() => 1);',
  'const.ts': 'const reward = (a: { completions: unknown[] }) => a.completions.map(() => 1);\nexport default reward;',
  'as-default.ts': 'function score(a: { completions: unknown[] }) { return a.completions.map(() => 1); }\nexport { score as default };',
  'export-equals.cts': 'const f = (a: { completions: unknown[] }) => a.completions.map(() => 1);\nexport = f;',
  'cjs.cjs': 'module.exports = function ({ completions }) { return completions.map(() => 1); };',
  'cjs-default.js': 'exports.default = ({ completions }) => completions.map(() => 1);',
  'cjs-default-object.js': 'module.exports = { default: ({ completions }) => completions.map(() => 1) };',
  'named.ts': 'export function reward() { return [1]; }',
  'default-object.ts': 'function reward() { return [1]; }\nexport default { reward };',
  'cjs-object.js': 'module.exports = { reward: () => [1] };',
  'default-number.js': 'export default 42;',
  'empty.ts': 'const unused = 1;',
  'broken.ts': 'export default function reward( {\n  return 1;\n}',
  'typed.js': 'const x: number = 1;\nexport default () => [x];',
  'unclosed.js': 'export default function reward() {\n  return [1];\n',
};

test('the checker and the sandbox agree on every module', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-reward-contract-'));
  try {
    for (const [name, text] of Object.entries(MODULES)) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const facts = rewardModuleFacts(file, text);
      let loaded: UserReward | undefined;
      let error: Error | undefined;
      try {
        loaded = await UserReward.load(file, { timeoutMs: 10_000 });
      } catch (err) {
        error = err as Error;
      } finally {
        await loaded?.close();
      }
      if (facts.syntaxError) {
        assert.match(error?.message ?? 'loaded', new RegExp(`has a syntax error at line ${facts.syntaxError.range.start.line + 1}, column ${facts.syntaxError.range.start.character + 1}`), name);
      } else if (facts.noFunction) {
        assert.match(error?.message ?? 'loaded', /has no default export function/, name);
      } else {
        assert.equal(error, undefined, `${name}: ${error?.message}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
