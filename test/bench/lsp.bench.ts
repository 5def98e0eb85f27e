// Language server latency on a 100,000-record conversational SFT file, over stdio like VS Code:
// didOpen -> first publishDiagnostics, and one-line didChange -> updated diagnostics. Besides the
// end-to-end figures (which include JSON-RPC framing of the diagnostics), the server reports its own
// time per validation through the $/anneal/timing notification (core/protocol/lsp.ts):
// applyMs = feeding the edit to the incremental DatasetModel, reportMs = producing diagnostics + summary.
// Run: node --import tsx test/bench/lsp.bench.ts   (prints figures, asserts nothing)
import { DocumentSymbolRequest, HoverRequest } from 'vscode-languageserver-protocol/node';
import { LspClient } from '../integration/lsp/lspClient.ts';

const RECORDS = 100_000;
const EDITS = 40;
const uri = 'file:///tmp/anneal-bench/sft-100k.jsonl';

function record(i: number, role = 'assistant'): string {
  return JSON.stringify({
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: `Question ${i}: what is ${i} plus ${i * 7 % 13}?` },
      { role, content: `The answer is ${i + ((i * 7) % 13)}. Let me know if you need anything else.` },
    ],
  });
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const lines = Array.from({ length: RECORDS }, (_, i) => record(i));
  const text = lines.join('\n') + '\n';
  console.log(`file: ${RECORDS.toLocaleString('en-US')} records, ${(text.length / 1e6).toFixed(1)} MB`);

  const { client } = await LspClient.start({ validationDelayMs: 0, timing: true });
  try {
    let started = performance.now();
    const openTiming = client.waitForTiming(uri, 1);
    const opened = client.diagnosticsFor(uri, 1);
    await client.open(uri, text);
    const first = await opened;
    const openMs = performance.now() - started;
    const t = await openTiming;
    console.log(
      `didOpen -> first publishDiagnostics: ${openMs.toFixed(0)} ms end to end (server: setText ${t.applyMs.toFixed(0)} ms + report ${t.reportMs.toFixed(0)} ms; ${first.diagnostics.length} diagnostics)`,
    );

    const endToEnd: number[] = [];
    const server: number[] = [];
    const apply: number[] = [];
    const report: number[] = [];
    let version = 1;
    for (let k = 0; k < EDITS; k++) {
      // Alternate: break one line's role, then fix it again, on lines spread over the file.
      const line = Math.floor(((k >> 1) * 2654435761) % RECORDS);
      const broken = k % 2 === 0;
      const current = record(line, broken ? 'assistant' : 'asistant');
      const from = current.lastIndexOf(broken ? '"assistant"' : '"asistant"') + 1;
      const len = broken ? 'assistant'.length : 'asistant'.length;
      version++;
      const timing = client.waitForTiming(uri, version);
      const published = client.diagnosticsFor(uri, version);
      started = performance.now();
      await client.change(uri, version, [
        { range: { start: { line, character: from }, end: { line, character: from + len } }, text: broken ? 'asistant' : 'assistant' },
      ]);
      const result = await published;
      endToEnd.push(performance.now() - started);
      const tt = await timing;
      server.push(tt.applyMs + tt.reportMs);
      apply.push(tt.applyMs);
      report.push(tt.reportMs);
      const hasTypo = result.diagnostics.some((d) => d.code === 'role-typo' && d.range.start.line === line);
      if (hasTypo !== broken) throw new Error(`edit ${k}: expected role-typo ${broken ? 'present' : 'absent'} on line ${line}`);
    }
    console.log(`one-line didChange -> updated diagnostics (${EDITS} edits): end to end ${stats(endToEnd)}`);
    console.log(`  server time per edit: ${stats(server)} (apply ${stats(apply)}; report ${stats(report)})`);

    started = performance.now();
    await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 54_321, character: 3 } });
    console.log(`hover on record 54,322: ${(performance.now() - started).toFixed(1)} ms`);
    started = performance.now();
    const symbols = (await client.connection.sendRequest(DocumentSymbolRequest.type, { textDocument: { uri } })) as unknown[];
    console.log(`document symbols (${symbols.length.toLocaleString('en-US')} listed, capped): ${(performance.now() - started).toFixed(0)} ms`);
  } finally {
    await client.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
