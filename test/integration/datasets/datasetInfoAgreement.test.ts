// One folder with a LLaMA-Factory dataset_info.json, read by the three readers a user meets: the
// language server (over stdio), `anneal validate` (a real process) and the trainer's pre-flight check
// (runs/start on a real daemon). They must report the same diagnostics at the same places, accept the
// same clean files, and all honour the entry (the same file without it has errors).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, StartRun, StopRun, type InvalidInputData } from '../../../core/protocol/daemon.ts';
import { ensureServerBuilt, LspClient } from '../lsp/lspClient.ts';
import { CLI, connect, startTestDaemon, stopTestDaemon, tempDir } from '../daemon/helpers.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/datasets/llamafactory');
const J = JSON.stringify;

/** line:column:code of a diagnostic, 1-based as the CLI prints it. */
type Place = string;

function cliPlaces(file: string): { code: number | null; places: Place[]; errors: Place[] } {
  const r = spawnSync(process.execPath, [CLI, 'validate', '--json', file], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const diags = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { line: number; column: number; endColumn: number; code: string; severity: string });
  const place = (d: (typeof diags)[number]) => `${d.line}:${d.column}-${d.endColumn}:${d.code}`;
  return { code: r.status, places: diags.map(place), errors: diags.filter((d) => d.severity === 'error').map(place) };
}

test('LSP, CLI and the trainer pre-flight agree on a folder with a dataset_info.json', async (t) => {
  ensureServerBuilt();
  const dir = tempDir(t, 'anneal-dataset-info-');
  for (const name of ['dataset_info.json', 'support_chat.jsonl', 'tone_kto.jsonl', 'notes_pt.jsonl', 'facts_pairs.jsonl']) copyFileSync(join(fixtures, name), join(dir, name));
  // A broken copy of the tagged chat file, described by its own entry.
  const info = JSON.parse(readFileSync(join(dir, 'dataset_info.json'), 'utf8'));
  info.support_broken = { ...info.support_chat, file_name: 'support_broken.jsonl' };
  writeFileSync(join(dir, 'dataset_info.json'), J(info, null, 2));
  const good = J({ messages: [{ role: 'user', content: 'Where is my parcel?' }, { role: 'assistant', content: 'It arrives tomorrow.' }] });
  const typo = J({ messages: [{ role: 'user', content: 'Hello' }, { role: 'asistant', content: 'Hi, how can I help?' }] });
  const empty = J({ messages: [{ role: 'user', content: '' }, { role: 'assistant', content: 'Could you say more?' }] });
  writeFileSync(join(dir, 'support_broken.jsonl'), [good, typo, empty, ''].join('\n'));
  const clean = ['support_chat.jsonl', 'tone_kto.jsonl', 'notes_pt.jsonl', 'facts_pairs.jsonl'];
  const broken = join(dir, 'support_broken.jsonl');

  // The CLI: clean files exit 0 with nothing to say; the broken one names its two problems.
  for (const name of clean) assert.deepEqual(cliPlaces(join(dir, name)), { code: 0, places: [], errors: [] }, name);
  const cli = cliPlaces(broken);
  assert.equal(cli.code, 1);
  assert.deepEqual(cli.places, ['2:56-66:role-typo', '3:39-41:empty-content']);
  // Without the entry the same tagged file is not understood at all.
  const elsewhere = tempDir(t, 'anneal-no-info-');
  copyFileSync(join(dir, 'support_chat.jsonl'), join(elsewhere, 'support_chat.jsonl'));
  assert.equal(cliPlaces(join(elsewhere, 'support_chat.jsonl')).code, 1);

  // The language server, over stdio: the same diagnostics at the same places.
  const { client } = await LspClient.start();
  try {
    for (const name of [...clean, 'support_broken.jsonl']) {
      const path = join(dir, name);
      const uri = pathToFileURL(path).href;
      const published = client.diagnosticsFor(uri, 1);
      await client.open(uri, readFileSync(path, 'utf8'));
      const places = (await published).diagnostics.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1}-${d.range.end.character + 1}:${d.code}`);
      assert.deepEqual(places, name === 'support_broken.jsonl' ? cli.places : [], name);
    }
  } finally {
    await client.stop();
  }

  // The trainer's pre-flight (runs/start on a real daemon): the same errors refuse the run; clean files start one.
  const daemon = await startTestDaemon(tempDir(t));
  try {
    const c = await connect(daemon);
    const refused = await c.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: broken }, args: { max_steps: 1 } }).then(
      () => assert.fail('the broken file was accepted'),
      (err: ResponseError<InvalidInputData>) => err,
    );
    assert.equal(refused.code, DaemonErrorCodes.InvalidInput);
    const places = refused.data!.files[0].diagnostics.map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1}-${d.range.end.character + 1}:${d.code}`);
    assert.deepEqual(places, cli.errors);
    for (const [name, stage] of [['support_chat.jsonl', 'sft'], ['tone_kto.jsonl', 'kto'], ['notes_pt.jsonl', 'cpt'], ['facts_pairs.jsonl', 'dpo']] as const) {
      const { run } = await c.connection.sendRequest(StartRun.type, { stage, data: { train: join(dir, name) }, args: { max_steps: 1 } });
      assert.ok(run.id, name);
      await c.connection.sendRequest(StopRun.type, { runId: run.id, force: true });
    }
    c.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});
