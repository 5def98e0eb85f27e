// GRPO rewards in the editor, through the bundled language server: a reward module with a syntax error
// is marked on the recipe's `file:` with a related location in the module; one with no function,
// a reward_weights list of the wrong length and a weight of 0 are reported; fixing them clears it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DiagnosticSeverity } from 'vscode-languageserver-protocol/node';
import { LspClient } from './lspClient.ts';

describe('language server: reward checks', () => {
  let client: LspClient;
  let dir: string;
  before(async () => {
    ({ client } = await LspClient.start());
    dir = mkdtempSync(join(tmpdir(), 'anneal-lsp-rewards-'));
    writeFileSync(join(dir, 'prompts.jsonl'), '{"prompt":"2+2="}\n');
    writeFileSync(join(dir, 'broken.ts'), 'export default function reward( {\n  return 1;\n}\n');
    writeFileSync(join(dir, 'named.ts'), 'export function reward() { return [1]; }\n');
    writeFileSync(join(dir, 'good.ts'), 'export default ({ completions }: { completions: string[] }) => completions.map((c) => c.length);\n');
  });
  after(async () => {
    await client.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports module and weight problems, then clears them', async () => {
    const uri = pathToFileURL(join(dir, 'grpo.anneal.yaml')).href;
    const recipe = (a: string, b: string, weights: string) =>
      `model: tiny\nstage: grpo\ndata:\n  train: prompts.jsonl\nreward_weights: ${weights}\nrewards:\n  - name: a\n    file: ${a}\n  - name: b\n    file: ${b}\n`;
    const first = client.diagnosticsFor(uri, 1);
    await client.open(uri, recipe('broken.ts', 'named.ts', '[1, 0, 2]'), 'yaml');
    const { diagnostics } = await first;
    assert.deepEqual(diagnostics.map((d) => d.code).sort(), ['recipe-invalid-value', 'recipe-reward-module-invalid', 'recipe-reward-no-function', 'recipe-reward-weight-zero']);
    const syntax = diagnostics.find((d) => d.code === 'recipe-reward-module-invalid')!;
    assert.equal(syntax.message, "`broken.ts` has a syntax error at 2:10: ':' expected; fix it there.");
    assert.deepEqual(syntax.range, { start: { line: 7, character: 10 }, end: { line: 7, character: 19 } });
    assert.deepEqual(syntax.relatedInformation, [
      { location: { uri: pathToFileURL(join(dir, 'broken.ts')).href, range: { start: { line: 1, character: 9 }, end: { line: 1, character: 10 } } }, message: "':' expected" },
    ]);
    assert.equal(diagnostics.find((d) => d.code === 'recipe-reward-weight-zero')!.severity, DiagnosticSeverity.Information);
    const second = client.diagnosticsFor(uri, 2);
    await client.change(uri, 2, [{ text: recipe('good.ts', 'good.ts', '[1, 0.5]') }]);
    assert.deepEqual((await second).diagnostics, []);
  });
});
