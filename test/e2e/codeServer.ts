// Starts code-server (installed by test/e2e/setup.sh) on a free loopback port with throwaway
// user-data, extensions and XDG folders, and stops its whole process group afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const CODE_SERVER_VERSION = '4.100.3';
const cacheDir = process.env['ANNEAL_E2E_CACHE'] ?? join(homedir(), '.cache/anneal-e2e');
export const codeServerBin = join(cacheDir, `code-server-${CODE_SERVER_VERSION}`, 'node_modules/.bin/code-server');
export const chromiumPath = '/usr/bin/chromium';

/** Runs setup.sh (idempotent, fast when done) so the test also works when run on its own. */
export function ensureInstalled(repoRoot: string): void {
  if (existsSync(codeServerBin) && existsSync(chromiumPath)) return;
  const r = spawnSync('bash', [join(repoRoot, 'test/e2e/setup.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('test/e2e/setup.sh failed; see its output above');
}

/** A port the kernel just handed out on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface CodeServer {
  url: string;
  port: number;
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'security.workspace.trust.enabled': false,
};

export interface CodeServerOptions {
  /** User settings, written to both the User and the Machine settings (machine-scoped ones need the latter). */
  settings?: Record<string, unknown>;
}

/** Starts code-server on `folder` and resolves once it listens. */
export async function startCodeServer(folder: string, timeoutMs = 120_000, options: CodeServerOptions = {}): Promise<CodeServer> {
  const port = await freePort();
  const scratch = mkdtempSync(join(tmpdir(), 'anneal-e2e-cs-'));
  // No welcome page, walkthrough or trust prompt: they open late and take focus from what a test types.
  const settings = { ...QUIET_SETTINGS, ...options.settings };
  for (const scope of ['User', 'Machine']) {
    mkdirSync(join(scratch, 'user-data', scope), { recursive: true });
    writeFileSync(join(scratch, 'user-data', scope, 'settings.json'), JSON.stringify(settings, null, 2));
  }
  const env = {
    ...process.env,
    EXTENSIONS_GALLERY: '{}',
    XDG_CONFIG_HOME: join(scratch, 'config'),
    XDG_DATA_HOME: join(scratch, 'data'),
    XDG_CACHE_HOME: join(scratch, 'cache'),
  };
  const child = spawn(
    codeServerBin,
    [
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--user-data-dir', join(scratch, 'user-data'),
      '--extensions-dir', join(scratch, 'extensions'),
      folder,
    ],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not start within ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (/HTTP server listening/.test(output.join(''))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited (${code}) before listening:\n${output.join('')}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
        const kill = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, 5000);
        await exited;
        clearTimeout(kill);
      }
      // Stragglers of the group (extension host, language server) go too.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // none left
      }
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
