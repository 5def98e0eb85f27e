// One engine job seen from the CLI: fork `dist/worker.js --job`, hand it the job once it is ready,
// and settle with its result or its one-sentence error. Aborting kills the child at once.
import { fork } from 'node:child_process';
import { isJobMessage, type EngineJobKind, type ParentToJob } from '../../core/protocol/worker.ts';

export function runInChild<Result>(workerPath: string, kind: EngineJobKind, job: unknown, signal: AbortSignal): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = fork(workerPath, ['--job'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [], env: process.env });
    let stderr = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      settle(() => reject(new Error('Cancelled.')));
    };
    signal.addEventListener('abort', onAbort);
    child.stderr?.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
    child.on('message', (raw) => {
      if (!isJobMessage(raw)) return;
      if (raw.type === 'job-ready') child.send({ type: 'job', kind, job } satisfies ParentToJob);
      else if (raw.type === 'job-result') settle(() => resolve(raw.result as Result));
      else settle(() => reject(new Error(raw.message)));
    });
    child.on('error', (err) => settle(() => reject(new Error(`The engine process could not start (${err.message}); check that ${workerPath} exists (npm run build).`))));
    child.on('close', (code, sig) => {
      const last = stderr.trim().split('\n').filter((l) => !/^(I0000|WARNING: All log)/.test(l)).slice(-3).join(' | ');
      settle(() => reject(new Error(`The engine process ended (${sig ?? `exit ${code}`}) without an answer${last ? `: ${last}` : ''}.`)));
    });
  });
}
