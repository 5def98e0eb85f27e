// A minimal LSP client for tests and the benchmark: spawns `node dist/server.js --stdio` and talks to
// it with vscode-languageserver-protocol over the child's pipes. Waits on notifications, never sleeps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  createProtocolConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  LogMessageNotification,
  ShowMessageNotification,
  ShowMessageRequest,
  PublishDiagnosticsNotification,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type InitializeResult,
  type ProtocolConnection,
  type PublishDiagnosticsParams,
  type TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol/node';
import { FileSummaryNotification, TimingNotification, type InitializationOptions } from '../../../core/protocol/lsp.ts';

export const repoRoot = resolve(import.meta.dirname, '../../..');
const serverJs = join(repoRoot, 'dist/server.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const st = statSync(full);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(full) : st.mtimeMs);
  }
  return newest;
}

/** Rebuilds dist/ when the server or core sources are newer (running a test file on its own); ANNEAL_NO_REBUILD=1 skips it. */
export function ensureServerBuilt(): void {
  if (process.env['ANNEAL_NO_REBUILD'] === '1') return;
  let built = 0;
  try {
    built = statSync(serverJs).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = Math.max(newestMtime(join(repoRoot, 'extension')), newestMtime(join(repoRoot, 'core')));
  if (built >= sources) return;
  const r = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('node esbuild.mjs failed');
}

interface Waiter<T> {
  accept: (value: T) => boolean;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

/** One running server and its protocol connection. */
export class LspClient {
  readonly diagnostics = new Map<string, PublishDiagnosticsParams>();
  readonly stderr: string[] = [];
  readonly logs: string[] = [];
  private diagnosticWaiters: Waiter<PublishDiagnosticsParams>[] = [];
  private timingWaiters: Waiter<TimingNotification.Params>[] = [];
  private summaryWaiters: Waiter<FileSummaryNotification.Params>[] = [];
  exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly connection: ProtocolConnection,
  ) {
    this.exited = new Promise((res) => child.once('exit', (code) => res(code)));
    // A dead server must fail the waiting test with its stderr, not leave it pending forever.
    child.once('exit', (code, signal) => {
      const error = new Error(`language server exited (${code ?? signal}): ${this.stderr.join('').slice(-2000)}`);
      for (const w of [...this.diagnosticWaiters, ...this.timingWaiters, ...this.summaryWaiters]) w.reject(error);
      this.diagnosticWaiters = [];
      this.timingWaiters = [];
      this.summaryWaiters = [];
    });
    connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
      this.diagnostics.set(p.uri, p);
      this.diagnosticWaiters = settle(this.diagnosticWaiters, p);
    });
    connection.onNotification(TimingNotification.method, (p: TimingNotification.Params) => {
      this.timingWaiters = settle(this.timingWaiters, p);
    });
    connection.onNotification(FileSummaryNotification.method, (p: FileSummaryNotification.Params) => {
      this.summaryWaiters = settle(this.summaryWaiters, p);
    });
    connection.onNotification(LogMessageNotification.type, (p) => {
      this.logs.push(p.message);
    });
    connection.onNotification(ShowMessageNotification.type, (p) => {
      this.logs.push(p.message);
    });
    connection.onRequest(ShowMessageRequest.type, () => null);
  }

  /** Spawns the server and completes the initialize handshake. */
  static async start(initializationOptions: InitializationOptions = { validationDelayMs: 0 }): Promise<{ client: LspClient; init: InitializeResult }> {
    ensureServerBuilt();
    const child = spawn(process.execPath, [serverJs, '--stdio'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    const connection = createProtocolConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new LspClient(child, connection);
    child.stderr!.on('data', (chunk: Buffer) => client.stderr.push(chunk.toString()));
    connection.listen();
    const init = await connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: null,
      capabilities: { textDocument: { publishDiagnostics: { relatedInformation: true, versionSupport: true } } },
      initializationOptions,
    });
    await connection.sendNotification(InitializedNotification.type, {});
    return { client, init };
  }

  /** Resolves with the next diagnostics for `uri` that satisfy `accept` (or the current ones, if they already do). */
  waitForDiagnostics(uri: string, accept: (p: PublishDiagnosticsParams) => boolean = () => true): Promise<PublishDiagnosticsParams> {
    return new Promise((resolve, reject) => {
      this.diagnosticWaiters.push({ accept: (p) => p.uri === uri && accept(p), resolve, reject });
    });
  }

  /** Diagnostics published for `version` of `uri`. */
  diagnosticsFor(uri: string, version: number): Promise<PublishDiagnosticsParams> {
    const known = this.diagnostics.get(uri);
    if (known && known.version === version) return Promise.resolve(known);
    return this.waitForDiagnostics(uri, (p) => p.version === version);
  }

  waitForTiming(uri: string, version: number): Promise<TimingNotification.Params> {
    return new Promise((resolve, reject) => this.timingWaiters.push({ accept: (p) => p.uri === uri && p.version === version, resolve, reject }));
  }

  waitForSummary(uri: string, version: number): Promise<FileSummaryNotification.Params> {
    return new Promise((resolve, reject) => this.summaryWaiters.push({ accept: (p) => p.uri === uri && p.version === version, resolve, reject }));
  }

  async open(uri: string, text: string, languageId = 'jsonl', version = 1): Promise<void> {
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version, text } });
  }

  async change(uri: string, version: number, contentChanges: TextDocumentContentChangeEvent[]): Promise<void> {
    await this.connection.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri, version }, contentChanges });
  }

  /** Shuts the server down politely and waits for it to exit (kills it if it does not). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    try {
      await this.connection.sendRequest(ShutdownRequest.type);
      await this.connection.sendNotification(ExitNotification.type);
    } catch {
      // the server may already be gone
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.connection.dispose();
  }
}

function settle<T>(waiters: Waiter<T>[], value: T): Waiter<T>[] {
  return waiters.filter((w) => {
    if (!w.accept(value)) return true;
    w.resolve(value);
    return false;
  });
}
