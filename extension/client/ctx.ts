// The extension's context: owns the language client and the summary status items, and is the one
// object commands talk to. Commands exist from activation; when the server is not running they say
// so instead of failing (rust-analyzer's ctx.ts does the same).
import * as vscode from 'vscode';
import {
  LanguageClient,
  State,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import {
  FileSummaryNotification,
  FileSummaryRequest,
  type FileSummary,
  type InitializationOptions,
} from '../../core/protocol/lsp.ts';
import { CONFIG_SECTION, readConfig, serverSettings } from './config.ts';
import { SummaryStatus } from './summaryStatus.ts';

/** Documents the language server checks: JSONL datasets and recipes (YAML or JSON named `*.anneal.*`). */
export const documentSelector = [
  { language: 'jsonl' },
  { scheme: 'file', pattern: '**/*.jsonl' },
  { language: 'yaml', pattern: '**/*.anneal.{yaml,yml}' },
  { language: 'json', pattern: '**/*.anneal.json' },
];

export class Ctx implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly summaries = new Map<string, FileSummary>();
  readonly output: vscode.LogOutputChannel;
  private readonly status: SummaryStatus;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extension: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('Anneal Language Server', { log: true });
    this.status = new SummaryStatus(documentSelector);
    this.disposables.push(
      this.output,
      this.status,
      vscode.window.onDidChangeActiveTextEditor(() => this.refreshStatus()),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        this.summaries.delete(doc.uri.toString());
        this.refreshStatus();
      }),
    );
  }

  /** True while the language server is up. */
  get serverRunning(): boolean {
    return this.client?.state === State.Running;
  }

  /** Starts the language server (bundled as dist/server.js). */
  async start(): Promise<void> {
    if (this.client) return;
    const module = this.extension.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.stdio },
      debug: { module, transport: TransportKind.stdio, options: { execArgv: ['--nolazy', '--inspect=6010'] } },
    };
    const initializationOptions: InitializationOptions = { settings: serverSettings(readConfig()) };
    const clientOptions: LanguageClientOptions = {
      documentSelector,
      initializationOptions,
      outputChannel: this.output,
      synchronize: { configurationSection: CONFIG_SECTION },
      markdown: { isTrusted: false, supportHtml: false },
    };
    const client = new LanguageClient('anneal', 'Anneal Language Server', serverOptions, clientOptions);
    this.client = client;
    client.onNotification(FileSummaryNotification.method, (summary: FileSummaryNotification.Params) => {
      this.summaries.set(summary.uri, summary);
      this.refreshStatus();
    });
    this.status.setServerState('starting');
    try {
      await client.start();
      this.status.setServerState('running');
    } catch (error) {
      this.status.setServerState('stopped');
      this.output.appendLine(`Anneal language server failed to start: ${String(error)}`);
      throw error;
    }
    this.refreshStatus();
  }

  /** Stops and starts the server again (new settings, a stuck server). */
  async restart(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.summaries.clear();
    if (client) {
      try {
        await client.stop(2000);
      } catch (error) {
        this.output.appendLine(`Stopping the language server failed: ${String(error)}`);
      }
    }
    await this.start();
  }

  /** The summary for a document: the last pushed one, or asked for now. */
  async summaryFor(uri: vscode.Uri): Promise<FileSummary | undefined> {
    const known = this.summaries.get(uri.toString());
    if (known) return known;
    if (!this.client || !this.serverRunning) return undefined;
    const params: FileSummaryRequest.Params = { uri: uri.toString() };
    const result = await this.client.sendRequest<FileSummaryRequest.Result>(FileSummaryRequest.method, params);
    return result ?? undefined;
  }

  private refreshStatus(): void {
    const editor = vscode.window.activeTextEditor;
    this.status.show(editor ? this.summaries.get(editor.document.uri.toString()) : undefined);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    void this.client?.stop();
  }
}
