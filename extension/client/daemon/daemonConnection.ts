// The extension's one connection to the training daemon: the local daemon of the configured state dir
// (found through daemon.json, started detached on demand) or a remote one by URL with a token kept in
// SecretStorage. It reconnects with backoff when the socket drops and tells listeners on each
// (re)connect so they can refresh and re-subscribe; it never leaves a caller waiting forever.
import { watch, type FSWatcher, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { PROTOCOL_VERSION, type InitializeResult, type ProtocolMismatchData } from '../../../core/protocol/daemon.ts';
import { connectDaemon, DaemonRefusedError, type DaemonClient } from '../../../daemon/client/connect.ts';
import { connectExisting, ensureDaemon } from '../../../daemon/client/ensure.ts';
import { daemonLogPath, isProcessAlive, readDaemonInfo, readToken, resolveStateDir } from '../../../daemon/client/stateDir.ts';
import { readConfig } from '../config.ts';
import type { DaemonState } from '../statusText.ts';
import { backoffDelay } from './backoff.ts';

/** SecretStorage key of the remote daemon's token. */
export const REMOTE_TOKEN_SECRET = 'anneal.daemon.remoteToken';
const CLIENT_NAME = 'anneal-vscode';

/** Where and how to reach the daemon: what a panel's own socket (the relay) needs too. */
export interface DaemonEndpoint {
  url: string;
  token: string;
  remote: boolean;
}

/** The state dir from `anneal.daemon.stateDir` (`~` expanded), else ANNEAL_HOME, else ~/.anneal. */
export function configuredStateDir(): string {
  const setting = readConfig().daemonStateDir.trim();
  const expanded = setting === '~' ? homedir() : setting.startsWith('~/') ? join(homedir(), setting.slice(2)) : setting;
  return resolveStateDir(expanded || undefined);
}

/** One sentence for an error met while connecting. */
export function describeConnectError(error: unknown, endpoint: string, remote: boolean): { reason: string; retry: boolean } {
  if (error instanceof DaemonRefusedError) {
    return remote
      ? { reason: `The daemon at ${endpoint} refused the token; run "Anneal: Set Remote Daemon Token" with the one it printed.`, retry: false }
      : { reason: `The daemon of ${endpoint} refused its own token file; run "Anneal: Stop Daemon" and train again to restart it.`, retry: true };
  }
  const data = (error as { data?: ProtocolMismatchData }).data;
  if (data && typeof data.daemonProtocolVersion === 'number') {
    return {
      reason: `The daemon (Anneal ${data.daemonVersion}, protocol ${data.daemonProtocolVersion}) speaks another protocol than this extension (${PROTOCOL_VERSION}); stop it and start the one this extension bundles.`,
      retry: false,
    };
  }
  const code = (error as NodeJS.ErrnoException).code;
  const where = remote ? `the remote daemon at ${endpoint}` : 'the local daemon';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
    return { reason: `Cannot reach ${where} (${code}); check that it runs${remote ? ' and that anneal.daemon.url is right' : ''}.`, retry: true };
  }
  return { reason: `Cannot connect to ${where}: ${error instanceof Error ? error.message : String(error)}`, retry: true };
}

export class DaemonConnection implements vscode.Disposable {
  private current: DaemonClient | undefined;
  private currentEndpoint: DaemonEndpoint | undefined;
  private stateValue: DaemonState = 'off';
  private reasonValue: string | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private connecting: Promise<DaemonClient | undefined> | undefined;
  /** Set by "Stop Daemon": do not bring the daemon back until asked. */
  private stoppedByUser = false;
  private disposed = false;
  private watcher: FSWatcher | undefined;
  private readonly stateEmitter = new vscode.EventEmitter<void>();
  private readonly connectEmitter = new vscode.EventEmitter<DaemonClient>();

  /** Fires on every state change (status bar, context keys). */
  readonly onDidChangeState = this.stateEmitter.event;
  /** Fires on each (re)connect with the new client: refresh lists, re-subscribe runs. */
  readonly onDidConnect = this.connectEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): DaemonState {
    return this.stateValue;
  }
  /** Why the connection is down, when it is. */
  get reason(): string | undefined {
    return this.reasonValue;
  }
  get client(): DaemonClient | undefined {
    return this.current;
  }
  get info(): InitializeResult | undefined {
    return this.current?.info;
  }
  get endpoint(): DaemonEndpoint | undefined {
    return this.currentEndpoint;
  }
  get remote(): boolean {
    return readConfig().daemonUrl !== '';
  }
  get stateDir(): string {
    return configuredStateDir();
  }
  get logPath(): string {
    return daemonLogPath(this.stateDir);
  }

  /** At activation: join a daemon that already runs; start none. Watches daemon.json for one starting later. */
  async attach(): Promise<void> {
    await this.connect(false).catch(() => undefined);
    this.watchStateDir();
  }

  /**
   * The connected client, connecting (and, for the local daemon, starting it when `start`) if needed.
   * Throws with a sentence saying what to do when the daemon cannot be reached.
   */
  async ensure(start: boolean): Promise<DaemonClient> {
    if (this.current) return this.current;
    if (start) this.stoppedByUser = false;
    const client = await this.connect(start);
    if (client) return client;
    throw new Error(this.reasonValue ?? 'The Anneal daemon is not running; run "Anneal: Start Daemon".');
  }

  /** Settings changed (state dir, URL, token): drop the connection and reconnect to the new target. */
  async reset(): Promise<void> {
    this.clearTimer();
    this.attempt = 0;
    const old = this.current;
    this.current = undefined;
    this.currentEndpoint = undefined;
    old?.close();
    this.setState('off');
    this.watchStateDir();
    await this.connect(false).catch(() => undefined);
  }

  /** Stops the local daemon (SIGTERM: running runs checkpoint and stop first). */
  async stopLocalDaemon(): Promise<'stopped' | 'not-running'> {
    const stateDir = this.stateDir;
    const info = readDaemonInfo(stateDir);
    if (!info || !isProcessAlive(info.pid)) return 'not-running';
    this.stoppedByUser = true;
    this.clearTimer();
    const closed = this.current?.closed;
    process.kill(info.pid, 'SIGTERM');
    // The daemon closes its sockets as it exits; a daemon that hangs is not waited on for long.
    await Promise.race([closed ?? Promise.resolve(), new Promise((r) => setTimeout(r, 15_000))]);
    return 'stopped';
  }

  private setState(state: DaemonState, reason?: string): void {
    if (this.stateValue === state && this.reasonValue === reason) return;
    this.stateValue = state;
    this.reasonValue = reason;
    this.stateEmitter.fire();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One connection attempt (shared by concurrent callers). Resolves undefined when it failed. */
  private connect(start: boolean): Promise<DaemonClient | undefined> {
    if (this.current) return Promise.resolve(this.current);
    if (this.connecting) return this.connecting;
    this.connecting = this.tryConnect(start).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async tryConnect(start: boolean): Promise<DaemonClient | undefined> {
    const config = readConfig();
    const remote = config.daemonUrl !== '';
    if (this.stateValue !== 'reconnecting') this.setState('connecting');
    try {
      let client: DaemonClient | undefined;
      let endpoint: DaemonEndpoint | undefined;
      if (remote) {
        const token = await this.context.secrets.get(REMOTE_TOKEN_SECRET);
        if (!token) {
          this.setState('failed', `No token for the remote daemon at ${config.daemonUrl}; run "Anneal: Set Remote Daemon Token".`);
          return undefined;
        }
        client = await connectDaemon(config.daemonUrl, token, { clientName: CLIENT_NAME, timeoutMs: 5000 });
        endpoint = { url: config.daemonUrl, token, remote: true };
      } else {
        const stateDir = configuredStateDir();
        if (start) {
          mkdirSync(stateDir, { recursive: true, mode: 0o700 });
          client = await ensureDaemon(stateDir, {
            cliPath: this.context.asAbsolutePath('dist/cli.js'),
            clientName: CLIENT_NAME,
            // VS Code's extension host runs on Electron: make it act as plain Node for the daemon
            // (code-server's own node ignores the variable).
            env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
          });
        } else {
          client = await connectExisting(stateDir, { clientName: CLIENT_NAME });
        }
        const info = readDaemonInfo(stateDir);
        const token = readToken(stateDir);
        if (client && info && token) endpoint = { url: info.url, token, remote: false };
      }
      if (!client || !endpoint) {
        if (this.stateValue !== 'reconnecting') this.setState('off', 'No Anneal daemon is running.');
        return undefined;
      }
      this.adopt(client, endpoint);
      return client;
    } catch (error) {
      const { reason, retry } = describeConnectError(error, remote ? config.daemonUrl : configuredStateDir(), remote);
      this.log.warn(`Daemon connection failed: ${reason}`);
      if (retry && this.stateValue === 'reconnecting') this.scheduleReconnect(reason);
      else this.setState('failed', reason);
      return undefined;
    }
  }

  private adopt(client: DaemonClient, endpoint: DaemonEndpoint): void {
    this.current = client;
    this.currentEndpoint = endpoint;
    this.attempt = 0;
    this.log.info(
      `Connected to the daemon ${client.info.daemonVersion} (pid ${client.info.pid}, ${endpoint.remote ? endpoint.url : client.info.stateDir}); stages ${client.info.capabilities.stages.join(', ')}.`,
    );
    this.setState('connected');
    if (!this.watcher) this.watchStateDir();
    void client.closed.then(() => this.onClosed(client));
    this.connectEmitter.fire(client);
  }

  private onClosed(client: DaemonClient): void {
    if (this.current !== client) return;
    this.current = undefined;
    this.currentEndpoint = undefined;
    if (this.disposed) return;
    if (this.stoppedByUser) {
      this.log.info('The daemon was stopped.');
      this.setState('off', 'The daemon was stopped; training starts it again.');
      return;
    }
    this.log.warn('Lost the connection to the daemon; reconnecting.');
    this.setState('reconnecting', 'Lost the connection to the daemon.');
    this.scheduleReconnect('Lost the connection to the daemon.');
  }

  private scheduleReconnect(reason: string): void {
    if (this.disposed || this.stoppedByUser) return;
    this.clearTimer();
    const delay = backoffDelay(this.attempt++);
    this.setState('reconnecting', `${reason} Next try in ${Math.ceil(delay / 1000)} s.`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A local daemon that died is started again when auto-start is on: its runs then show interrupted.
      const start = !this.remote && readConfig().daemonAutoStart;
      void this.connect(start).then((client) => {
        if (!client && this.stateValue === 'reconnecting') this.scheduleReconnect(reason);
      });
    }, delay);
  }

  /** A daemon started by the CLI (or another window) while we are off is joined when it writes daemon.json. */
  private watchStateDir(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.remote) return;
    const dir = configuredStateDir();
    if (!existsSync(dir)) return;
    try {
      this.watcher = watch(dir, (_event, file) => {
        if (file === 'daemon.json' && !this.current && this.stateValue !== 'reconnecting' && !this.connecting) {
          void this.connect(false);
        }
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // No watcher: the daemon is found on the next command instead.
    }
  }

  dispose(): void {
    this.disposed = true;
    this.clearTimer();
    this.watcher?.close();
    this.current?.close();
    this.current = undefined;
    this.stateEmitter.dispose();
    this.connectEmitter.dispose();
  }
}
