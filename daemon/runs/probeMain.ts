// The body of `dist/worker.js --probe`: walk the backend ladder once (the same code a run uses), tell
// the daemon what it found over IPC, and exit. It runs in a short-lived child so the daemon's own event
// loop never loads tfjs or a native library.

import type { BackendReport } from '../engine/api.ts';
import type { ProbeToDaemon } from '../../core/protocol/worker.ts';

/** The value of `--backend NAME` / `--backend=NAME` in argv, if any. */
export function forcedBackendArg(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--backend') return argv[i + 1];
    if (argv[i]!.startsWith('--backend=')) return argv[i]!.slice('--backend='.length);
  }
  return undefined;
}

/** Probes with `select` (daemon/engine/backend.ts selectBackend) and reports to the parent. */
export function runProbe(select: (forced?: string) => Promise<BackendReport>, argv: string[] = process.argv): void {
  const answer = (msg: ProbeToDaemon) => {
    if (!process.send) {
      // Run by hand: print the answer instead.
      process.stdout.write(JSON.stringify(msg) + '\n');
      process.exit(msg.type === 'probe' ? 0 : 1);
    }
    // Exit once the message is out: tfjs may keep handles alive.
    try {
      process.send(msg, undefined, {}, () => process.exit(0));
    } catch {
      process.exit(0);
    }
  };
  // The daemon died first: nobody is waiting for the answer.
  process.on('disconnect', () => process.exit(0));
  select(forcedBackendArg(argv)).then(
    (backend) => answer({ type: 'probe', backend: { name: backend.name, device: backend.device, skipped: backend.skipped } }),
    (err: unknown) => answer({ type: 'probe-error', message: err instanceof Error ? err.message : String(err) }),
  );
}
