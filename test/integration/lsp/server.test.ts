// The language server over stdio: diagnostics on open and after incremental edits, hover, completion,
// code actions, document symbols, the summary request, the diagnostics cap and inputs that must not
// crash it. Every assertion is about what a real client receives.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  CodeActionRequest,
  CodeActionResolveRequest,
  CompletionRequest,
  DocumentSymbolRequest,
  HoverRequest,
  type CodeAction,
  type CompletionItem,
  type Diagnostic,
  type DocumentSymbol,
  type MarkupContent,
  type TextEdit,
} from 'vscode-languageserver-protocol/node';
import { FileSummaryRequest } from '../../../core/protocol/lsp.ts';
import { LspClient } from './lspClient.ts';

const good = '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}';
const typo = '{"messages":[{"role":"user","content":"Hi"},{"role":"asistant","content":"Hey"}]}';
const broken = '{"messages":[{"role":"user","content":"Bye"},{"role":"assistant","content":"Bye!"}],}';
const alpaca = '{"instruction":"Add","input":"1+1","output":"2"}';
const lines = [good, typo, good, broken, alpaca, ''];
const text = lines.join('\n');
const uri = 'file:///tmp/anneal-lsp-test/data.jsonl';

/** Applies LSP text edits (single-document, non-overlapping) to a text. */
function applyEdits(source: string, edits: TextEdit[]): string {
  const offsets = source.split('\n').reduce<number[]>((acc, l) => [...acc, acc[acc.length - 1]! + l.length + 1], [0]);
  const at = (p: { line: number; character: number }) => offsets[p.line]! + p.character;
  let out = source;
  for (const e of [...edits].sort((a, b) => at(b.range.start) - at(a.range.start))) {
    out = out.slice(0, at(e.range.start)) + e.newText + out.slice(at(e.range.end));
  }
  return out;
}

function messageOf(d: Diagnostic): string {
  return typeof d.message === 'string' ? d.message : d.message.value;
}

function byCode(diags: Diagnostic[], code: string): Diagnostic[] {
  return diags.filter((d) => d.code === code);
}

describe('language server over stdio', () => {
  let client: LspClient;

  before(async () => {
    const started = await LspClient.start({ validationDelayMs: 0, timing: true });
    client = started.client;
    assert.equal(started.init.capabilities.hoverProvider, true);
    assert.equal(started.init.capabilities.documentSymbolProvider, true);
  });

  after(async () => {
    await client.stop();
  });

  it('publishes diagnostics with codes and exact ranges on open', async () => {
    const published = client.diagnosticsFor(uri, 1);
    await client.open(uri, text);
    const { diagnostics } = await published;

    const [roleTypo] = byCode(diagnostics, 'role-typo');
    const typoStart = typo.indexOf('"asistant"');
    assert.deepEqual(roleTypo?.range, { start: { line: 1, character: typoStart }, end: { line: 1, character: typoStart + '"asistant"'.length } });
    assert.match(messageOf(roleTypo!), /assistant/);
    assert.equal(roleTypo!.severity, 1);
    assert.equal(roleTypo!.source, 'anneal');

    const [duplicate] = byCode(diagnostics, 'duplicate-record');
    assert.equal(duplicate?.range.start.line, 2);
    assert.equal(duplicate!.relatedInformation?.[0]?.location.uri, uri);
    assert.equal(duplicate!.relatedInformation?.[0]?.location.range.start.line, 0);

    const [syntax] = byCode(diagnostics, 'json-syntax');
    const badBrace = broken.lastIndexOf('}');
    assert.deepEqual(syntax?.range, { start: { line: 3, character: badBrace }, end: { line: 3, character: badBrace + 1 } });

    const [mixed] = byCode(diagnostics, 'mixed-formats');
    assert.equal(mixed?.range.start.line, 4);
  });

  it('answers the summary request and pushes the summary', async () => {
    const summary = await client.connection.sendRequest<FileSummaryRequest.Result>(FileSummaryRequest.method, { uri } satisfies FileSummaryRequest.Params);
    assert.ok(summary);
    assert.equal(summary.fileKind, 'dataset');
    assert.equal(summary.records, 4);
    assert.equal(summary.errors, 2);
    assert.equal(summary.datasetKind, 'sft');
    assert.deepEqual(summary.formats, { messages: 3, alpaca: 1 });
    assert.match(summary.text, /^4 records · 2 errors · 2 warnings · SFT mixed \(messages, alpaca\)$/);
    const none = await client.connection.sendRequest<FileSummaryRequest.Result>(FileSummaryRequest.method, { uri: 'file:///nope.jsonl' });
    assert.equal(none, null);
  });

  it('updates diagnostics after an incremental edit, and a fixed line loses its diagnostic', async () => {
    const start = typo.indexOf('"asistant"') + 1;
    const timing = client.waitForTiming(uri, 2);
    const published = client.diagnosticsFor(uri, 2);
    await client.change(uri, 2, [
      { range: { start: { line: 1, character: start }, end: { line: 1, character: start + 'asistant'.length } }, text: 'assistant' },
    ]);
    const { diagnostics } = await published;
    assert.equal(byCode(diagnostics, 'role-typo').length, 0);
    // Line 1 is now a record and no diagnostic points at it.
    assert.equal(diagnostics.filter((d) => d.range.start.line === 1).length, 0);
    assert.equal(byCode(diagnostics, 'json-syntax').length, 1);
    const t = await timing;
    assert.equal(t.kind, 'edit');
    assert.ok(t.applyMs >= 0 && t.reportMs >= 0);

    // An edit that breaks a line adds a diagnostic at the exact place; inserting a line shifts the rest.
    const published3 = client.diagnosticsFor(uri, 3);
    await client.change(uri, 3, [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: '{"text": 1}\n' }]);
    const after3 = (await published3).diagnostics;
    const [wrongType] = byCode(after3, 'wrong-type');
    assert.equal(wrongType?.range.start.line, 0);
    assert.equal(byCode(after3, 'json-syntax')[0]?.range.start.line, 4);

    // Undo the insertion (a multi-line deletion).
    const published4 = client.diagnosticsFor(uri, 4);
    await client.change(uri, 4, [{ range: { start: { line: 0, character: 0 }, end: { line: 1, character: 0 } }, text: '' }]);
    const after4 = (await published4).diagnostics;
    assert.equal(byCode(after4, 'wrong-type').length, 0);
    assert.equal(byCode(after4, 'json-syntax')[0]?.range.start.line, 3);
  });

  it('hovers a record with its rendering and loss tokens', async () => {
    const hover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 0, character: 5 } });
    assert.ok(hover);
    const value = (hover.contents as MarkupContent).value;
    assert.equal((hover.contents as MarkupContent).kind, 'markdown');
    assert.match(value, /\*\*Record on line 1\*\* · messages · conversational · 2 turns/);
    assert.match(value, /built-in tiny byte-level ChatML tokenizer/);
    assert.match(value, /`<\|im_start\|>`user/);
    // The assistant reply carries loss (bold); the user turn does not.
    assert.match(value, /\*\*Hello\\!`<\|im_end\|>`\*\*/);
    assert.doesNotMatch(value, /\*\*Hi/);
    const noHover = await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 3, character: 2 } });
    assert.equal(noHover, null);
  });

  it('completes field names and role values', async () => {
    const cUri = 'file:///tmp/anneal-lsp-test/complete.jsonl';
    const partial = '{"messages":[{"role":"user","content":"x"},{"role":"","content":"y"}]}';
    const published = client.diagnosticsFor(cUri, 1);
    await client.open(cUri, `${good}\n${partial}\n{""}\n`);
    await published;
    const roleAt = partial.indexOf('"role":""') + '"role":"'.length;
    const roles = (await client.connection.sendRequest(CompletionRequest.type, {
      textDocument: { uri: cUri },
      position: { line: 1, character: roleAt },
    })) as CompletionItem[];
    assert.deepEqual(roles.map((r) => r.label), ['system', 'user', 'assistant', 'tool']);
    assert.deepEqual((roles[2]!.textEdit as TextEdit).range, { start: { line: 1, character: roleAt - 1 }, end: { line: 1, character: roleAt + 1 } });
    assert.equal((roles[2]!.textEdit as TextEdit).newText, '"assistant"');

    const keys = (await client.connection.sendRequest(CompletionRequest.type, {
      textDocument: { uri: cUri },
      position: { line: 2, character: 2 },
    })) as CompletionItem[];
    assert.ok(keys.some((k) => k.label === 'messages'), `keys: ${keys.map((k) => k.label).join(',')}`);
    assert.ok(!keys.some((k) => k.label === 'instruction'), 'only the file format\'s fields are offered');
  });

  it('offers quick fixes that fix the problem when applied', async () => {
    const qUri = 'file:///tmp/anneal-lsp-test/fix.jsonl';
    const qText = [good, typo, good, alpaca, ''].join('\n');
    const published = client.diagnosticsFor(qUri, 1);
    await client.open(qUri, qText);
    const { diagnostics } = await published;

    const [roleTypo] = byCode(diagnostics, 'role-typo');
    const typoActions = (await client.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: qUri },
      range: roleTypo!.range,
      context: { diagnostics: [roleTypo!] },
    })) as CodeAction[];
    const fixTypo = typoActions.find((a) => a.kind === 'quickfix');
    assert.ok(fixTypo?.edit?.changes?.[qUri]);
    let fixed = applyEdits(qText, fixTypo.edit.changes[qUri]);
    assert.equal(fixed.split('\n')[1], typo.replace('asistant', 'assistant'));

    const [duplicate] = byCode(diagnostics, 'duplicate-record');
    const dupActions = (await client.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: qUri },
      range: duplicate!.range,
      context: { diagnostics: [duplicate!] },
    })) as CodeAction[];
    const removeDup = dupActions.find((a) => a.kind === 'quickfix');
    assert.match(removeDup!.title, /line 1/);
    const withoutDup = applyEdits(qText, removeDup!.edit!.changes![qUri]!);
    assert.deepEqual(withoutDup.split('\n'), [good, typo, alpaca, '']);

    const convertActions = (await client.connection.sendRequest(CodeActionRequest.type, {
      textDocument: { uri: qUri },
      range: { start: { line: 3, character: 0 }, end: { line: 3, character: 0 } },
      context: { diagnostics: [] },
    })) as CodeAction[];
    const convert = convertActions.find((a) => a.title === "Convert alpaca record to TRL's messages form");
    assert.ok(convert, convertActions.map((a) => a.title).join(' | '));
    fixed = applyEdits(qText, convert.edit!.changes![qUri]!);
    const converted = JSON.parse(fixed.split('\n')[3]!);
    assert.deepEqual(converted.messages.map((m: { role: string }) => m.role), ['user', 'assistant']);
    assert.equal(converted.messages[1].content, '2');

    const all = convertActions.find((a) => a.kind?.startsWith('source'));
    assert.ok(all);
    const resolved = await client.connection.sendRequest(CodeActionResolveRequest.type, all);
    const everything = applyEdits(qText, resolved.edit!.changes![qUri]!);
    assert.deepEqual(everything.split('\n').slice(0, 3), [good, typo, good]);
    assert.ok(JSON.parse(everything.split('\n')[3]!).messages);

    // Applying the typo fix through the server clears that diagnostic.
    const published2 = client.diagnosticsFor(qUri, 2);
    await client.change(qUri, 2, fixTypo.edit.changes[qUri].map((e) => ({ range: e.range, text: e.newText })));
    assert.equal(byCode((await published2).diagnostics, 'role-typo').length, 0);
  });

  it('checks a recipe and fixes an unknown key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-lsp-recipe-'));
    try {
      writeFileSync(join(dir, 'train.jsonl'), `${good}\n`);
      const rUri = pathToFileURL(join(dir, 'sft.anneal.yaml')).href;
      const recipe = 'model: tiny\nstage: sft\ndata:\n  train: train.jsonl\nlearning_rat: 2e-5\n';
      const published = client.diagnosticsFor(rUri, 1);
      await client.open(rUri, recipe, 'yaml');
      const { diagnostics } = await published;
      assert.deepEqual(diagnostics.map((d) => d.code), ['recipe-unknown-key']);
      assert.deepEqual(diagnostics[0]!.range, { start: { line: 4, character: 0 }, end: { line: 4, character: 'learning_rat'.length } });
      const actions = (await client.connection.sendRequest(CodeActionRequest.type, {
        textDocument: { uri: rUri },
        range: diagnostics[0]!.range,
        context: { diagnostics },
      })) as CodeAction[];
      const rename = actions.find((a) => a.kind === 'quickfix');
      assert.equal(rename?.title, 'Rename to learning_rate');
      const fixed = applyEdits(recipe, rename!.edit!.changes![rUri]!);
      assert.match(fixed, /^learning_rate: 2e-5$/m);
      const published2 = client.diagnosticsFor(rUri, 2);
      await client.change(rUri, 2, [{ text: fixed }]);
      assert.deepEqual((await published2).diagnostics, []);
      const summary = await client.connection.sendRequest<FileSummaryRequest.Result>(FileSummaryRequest.method, { uri: rUri });
      assert.equal(summary?.text, 'Recipe · no problems');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists one document symbol per record', async () => {
    const symbols = (await client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri } })) as DocumentSymbol[];
    assert.deepEqual(
      symbols.map((s) => s.name),
      ['#1 messages (2 turns)', '#2 messages (2 turns)', '#3 messages (2 turns)', '#4 alpaca (2 turns)'],
    );
    assert.deepEqual(symbols[3]!.range, { start: { line: 4, character: 0 }, end: { line: 4, character: alpaca.length } });
  });

  it('survives garbage, a 10 MB line and deep nesting', async () => {
    const gUri = 'file:///tmp/anneal-lsp-test/garbage.jsonl';
    const bytes = Array.from({ length: 4096 }, (_, i) => String.fromCharCode((i * 7919) % 65536)).join('');
    const huge = `{"text":"${'a'.repeat(10 * 1024 * 1024)}"}`;
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const deepObject = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000);
    const garbage = [bytes, huge, deep, deepObject, '\u0000\u0001\ufffd', '{"messages":', ''].join('\n');
    const published = client.diagnosticsFor(gUri, 1);
    await client.open(gUri, garbage);
    const { diagnostics } = await published;
    assert.ok(diagnostics.length > 0);
    // Requests on the garbage still answer.
    for (let line = 0; line < 6; line++) {
      await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: gUri }, position: { line, character: 3 } });
      await client.connection.sendRequest(CompletionRequest.type, { textDocument: { uri: gUri }, position: { line, character: 3 } });
      await client.connection.sendRequest(CodeActionRequest.type, {
        textDocument: { uri: gUri },
        range: { start: { line, character: 0 }, end: { line, character: 0 } },
        context: { diagnostics: [] },
      });
    }
    await client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri: gUri } });
    // Out-of-range edits are clamped, not fatal.
    const published2 = client.diagnosticsFor(gUri, 2);
    await client.change(gUri, 2, [{ range: { start: { line: 999, character: 5 }, end: { line: 1000, character: 0 } }, text: '\n{"text":"ok"}' }]);
    await published2;
    assert.equal(client.child.exitCode, null, 'server is still running');
    assert.deepEqual(client.logs.filter((l) => /failed/.test(l)), []);
  });
});

describe('diagnostics cap', () => {
  it('publishes at most maxPerFile and says so', async () => {
    const { client } = await LspClient.start({ validationDelayMs: 0, settings: { maxDiagnosticsPerFile: 5 } });
    try {
      const capUri = 'file:///tmp/anneal-lsp-test/many.jsonl';
      const published = client.diagnosticsFor(capUri, 1);
      await client.open(capUri, Array.from({ length: 50 }, (_, i) => `{"messages": ${i}}`).join('\n'));
      const { diagnostics } = await published;
      assert.equal(diagnostics.length, 6);
      assert.equal(diagnostics[0]!.code, 'diagnostics-capped');
      assert.match(messageOf(diagnostics[0]!), /first 5 of 50 problems.*anneal\.diagnostics\.maxPerFile/);
      const summary = await client.connection.sendRequest<FileSummaryRequest.Result>(FileSummaryRequest.method, { uri: capUri });
      assert.equal(summary?.truncated, true);
      assert.equal(summary?.errors, 50);
    } finally {
      await client.stop();
    }
  });
});
