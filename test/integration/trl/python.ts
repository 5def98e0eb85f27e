// The Python the TRL engine tests train with: Anneal's cached venv (ANNEAL_CACHE, default ~/.cache/anneal,
// the same venv the export tests and the bench use), made or completed with pip on a clean machine (CI):
// CPU-capable torch, then trl, transformers, accelerate, peft at the versions Anneal knows. Tests skip,
// with the reason, only where Python, venv or pip is absent.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIP_REQUIREMENTS } from '../../../daemon/trl/environment.ts';

const IMPORTS = 'import torch, transformers, trl, accelerate, peft, datasets, tokenizers';

let cached: { python: string } | { skip: string } | undefined;

/** The venv's Python with TRL and friends, or why there is none. */
export function trlPython(): { python: string } | { skip: string } {
  cached ??= find();
  return cached;
}

function find(): { python: string } | { skip: string } {
  const venv = join(process.env.ANNEAL_CACHE ?? join(homedir(), '.cache', 'anneal'), 'venv');
  const python = process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');
  const imports = () => spawnSync(python, ['-c', IMPORTS], { encoding: 'utf8' });
  if (existsSync(python) && imports().status === 0) return { python };
  const base = process.platform === 'win32' ? 'python' : 'python3';
  if (spawnSync(base, ['--version']).status !== 0) return { skip: `${base} is not installed, so the TRL engine cannot be tested here` };
  if (!existsSync(python)) {
    const r = spawnSync(base, ['-m', 'venv', venv], { encoding: 'utf8' });
    if (r.status !== 0) return { skip: `\`${base} -m venv\` failed (${(r.stderr || '').trim().split('\n').pop()}); on Debian/Ubuntu install python3-venv` };
  }
  if (spawnSync(python, ['-m', 'pip', '--version']).status !== 0) return { skip: `pip is not available in ${venv}` };
  const packages = ['torch', 'datasets', 'tokenizers', ...PIP_REQUIREMENTS];
  console.log(`installing ${packages.join(', ')} into ${venv} (once)`);
  const r = spawnSync(python, ['-m', 'pip', 'install', '--quiet', ...packages], { stdio: 'inherit' });
  if (r.status !== 0) return { skip: `pip install ${packages.join(' ')} failed (see above)` };
  const check = imports();
  return check.status === 0 ? { python } : { skip: `the venv still cannot import them: ${check.stderr.trim().split('\n').pop()}` };
}

/** A tiny random Llama (and, with `classifier`, a sequence classifier `<dir>-rm`) made by fixtures/make_tiny_llama.py. */
export function makeTinyLlama(python: string, dir: string, classifier = false): void {
  const script = fileURLToPath(new URL('fixtures/make_tiny_llama.py', import.meta.url));
  const r = spawnSync(python, [script, dir, ...(classifier ? ['--classifier'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_tiny_llama.py failed: ${r.stderr}`);
}
