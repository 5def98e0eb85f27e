// The Python a TRL run uses and what it holds: the recipe's `python:`, else ANNEAL_PYTHON (the editor's
// `anneal.python` setting reaches the daemon this way), else a venv Anneal finds, else python3. It must
// import trl, transformers, accelerate (and peft for LoRA) at versions Anneal knows; otherwise one
// sentence with the pip command. The launcher package (python/anneal_trl) ships with Anneal.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** The versions Anneal is tested with; python/anneal_trl/__init__.py holds the same. */
export const KNOWN_TRL = '1.16';
export const PIP_REQUIREMENTS = ['trl==1.16.0', 'transformers>=5.0,<6', 'accelerate>=1.15,<2', 'peft>=0.21,<1'];

/** The folder holding the `anneal_trl` package: dist/python beside the bundle, or the repository's python/. */
export function launcherRoot(): string {
  const override = process.env.ANNEAL_TRL_PACKAGE;
  if (override) return override;
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  const candidates = [join(here, 'python'), join(here, '..', 'python'), join(here, '..', '..', 'python'), join(process.cwd(), 'dist', 'python'), join(process.cwd(), 'python')];
  const found = candidates.find((d) => existsSync(join(d, 'anneal_trl', '__main__.py')));
  if (!found) throw new Error(`Anneal's TRL launcher (anneal_trl) is missing from this installation (looked in ${candidates.join(', ')}); reinstall Anneal.`);
  return found;
}

/** The environment a Python child of the launcher runs with: anneal_trl importable, output unbuffered. */
export function launcherEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const root = launcherRoot();
  return {
    ...process.env,
    PYTHONPATH: [root, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
    PYTHONUNBUFFERED: '1',
    TRL_EXPERIMENTAL_SILENCE: '1',
    ...extra,
  };
}

/** The Pythons to try, in order: the recipe's, ANNEAL_PYTHON, an active or project venv, Anneal's cache venv, python3. */
export function pythonCandidates(recipePython: string | undefined, recipeDir?: string): string[] {
  const bin = process.platform === 'win32' ? join('Scripts', 'python.exe') : join('bin', 'python');
  if (recipePython) return [recipePython];
  const out: string[] = [];
  if (process.env.ANNEAL_PYTHON) out.push(process.env.ANNEAL_PYTHON);
  if (process.env.VIRTUAL_ENV) out.push(join(process.env.VIRTUAL_ENV, bin));
  if (recipeDir) out.push(join(recipeDir, '.venv', bin), join(dirname(recipeDir), '.venv', bin));
  out.push(join(process.env.ANNEAL_CACHE ?? join(homedir(), '.cache', 'anneal'), 'venv', bin));
  return [...out.filter((p) => existsSync(p)), process.platform === 'win32' ? 'python' : 'python3'];
}

export interface PythonReport {
  python: string;
  versions: Record<string, string | null>;
  /** One sentence with the pip command, when something is missing or unknown. */
  problem: string | null;
}

function run(python: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    execFile(python, args, { env: launcherEnv(), timeout: timeoutMs, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: unknown }) | null;
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr, ...(err && typeof err.code === 'string' ? { error: err } : {}) });
    });
  });
}

/** The packages of one Python (`python -m anneal_trl env`), or why it cannot run at all. */
export async function pythonReport(python: string, peft: boolean): Promise<PythonReport | { problem: string }> {
  const r = await run(python, ['-m', 'anneal_trl', 'env', ...(peft ? ['--peft'] : [])], 60_000);
  if (r.error?.code === 'ENOENT') return { problem: `No Python at \`${python}\`; install Python 3.10 or later, or name one in the recipe's \`python:\`.` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const report = JSON.parse(line) as PythonReport;
    if (report && typeof report.python === 'string') return report;
  } catch {
    // below
  }
  const why = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
  return { problem: `\`${python}\` could not run Anneal's TRL launcher (${why}); it needs Python 3.10 or later.` };
}

/** The first candidate Python that has the packages; else the first one's problem (with its pip command). */
export async function findTrlPython(recipePython: string | undefined, peft: boolean, recipeDir?: string): Promise<PythonReport | { problem: string }> {
  let first: { problem: string } | undefined;
  for (const python of pythonCandidates(recipePython, recipeDir)) {
    const report = await pythonReport(python, peft);
    if ('versions' in report && !report.problem) return report;
    first ??= { problem: report.problem ?? 'unknown problem' };
  }
  return first ?? { problem: 'No Python found; install Python 3.10 or later, or name one in the recipe\'s `python:`.' };
}

export type CheckResult = { ok: true; versions: Record<string, string | null> } | { ok: false; kind: 'environment' | 'key' | 'value' | 'launcher'; message: string };

/** `python -m anneal_trl check PLAN`: packages, keys against TRL's config fields, values (TRL's own checks); no model loaded. */
export async function checkPlan(python: string, planPath: string): Promise<CheckResult> {
  const r = await run(python, ['-m', 'anneal_trl', 'check', planPath], 180_000);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const result = JSON.parse(line) as CheckResult;
    if (result && typeof result.ok === 'boolean') return result;
  } catch {
    // below
  }
  return { ok: false, kind: 'launcher', message: `Anneal's TRL check failed to run in \`${python}\` (${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}).` };
}
