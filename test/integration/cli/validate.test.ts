// `anneal validate` as a real process: the --json contract, human output, exit codes 0/1/2, bytes
// that are not UTF-8, and files larger than one read chunk.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
// ANNEAL_CLI lets a developer point at another build; by default the bundle `npm test` builds.
const cli = process.env.ANNEAL_CLI ?? join(root, 'dist/cli.js');
const fixtures = join(root, 'test/fixtures/datasets');

before(() => {
  if (!existsSync(cli)) {
    const build = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  }
});

const scratch: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-validate-'));
  scratch.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function validate(...args: string[]) {
  return validateWith({}, ...args);
}

function validateWith(env: NodeJS.ProcessEnv, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'validate', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface JsonDiagnostic {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: string;
  code: string;
  message: string;
}

function parseJsonLines(stdout: string): JsonDiagnostic[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as JsonDiagnostic);
}

test('clean example datasets exit 0 with no diagnostics', () => {
  const files = ['chat', 'alpaca', 'preference', 'prompts', 'text'].map((n) => `examples/${n}.jsonl`);
  const r = validate('--json', ...files);
  assert.equal(r.stdout, '');
  assert.equal(r.code, 0, r.stderr);
  const human = validate(...files);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /examples\/chat\.jsonl: sft, 24 records \(24 messages\); 0 errors/);
  assert.match(human.stdout, /5 files checked: 0 errors, 0 warnings, 0 info/);
});

test('faulty.jsonl: --json prints one object per diagnostic with 1-based positions, exit 1', () => {
  const file = 'test/fixtures/datasets/faulty.jsonl';
  const r = validate(file, '--json');
  assert.equal(r.code, 1, r.stderr);
  const diags = parseJsonLines(r.stdout);
  for (const d of diags) {
    assert.deepEqual(Object.keys(d).sort(), ['code', 'column', 'endColumn', 'endLine', 'file', 'line', 'message', 'severity']);
    assert.equal(d.file, file);
    assert.ok(d.line >= 1 && d.column >= 1 && d.endLine >= d.line);
  }
  const at = (code: string) => diags.filter((d) => d.code === code).map((d) => [d.line, d.column, d.endColumn]);
  const line2 = '{"messages": [{"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "7"} }';
  assert.deepEqual(at('json-syntax'), [[2, line2.lastIndexOf('}') + 1, line2.lastIndexOf('}') + 2]]);
  const line4 = '{"messages": [{"role": "user", "content": "Say hi."}, {"role": "asistant", "content": "Hi!"}]}';
  assert.deepEqual(at('role-typo'), [[4, line4.indexOf('"asistant"') + 1, line4.indexOf('"asistant"') + 11]]);
  assert.deepEqual(at('duplicate-record').map((x) => x[0]), [5]);
  assert.deepEqual(at('missing-field').map((x) => x[0]), [6]);
  assert.deepEqual(at('no-assistant').map((x) => x[0]), [3]);
});

test('human output: path:line:col severity code message, a summary per file and a total', () => {
  const r = validate('test/fixtures/datasets/faulty.jsonl');
  assert.equal(r.code, 1);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^test\/fixtures\/datasets\/faulty\.jsonl:2:\d+ error json-syntax Invalid JSON/);
  assert.match(r.stdout, /faulty\.jsonl: sft, 5 records \(5 messages\); 4 errors, 1 warning, 0 info/);
  assert.match(lines[lines.length - 1], /^1 file checked: 4 errors, 1 warning, 0 info$/);
  assert.doesNotMatch(r.stdout, /\x1b\[/); // no colour when not a terminal
});

test('warnings alone exit 0', () => {
  const dir = tempDir();
  const file = join(dir, 'warn.jsonl');
  writeFileSync(file, '{"text": "one two three"}\n\n{"text": "four five six"}\n');
  const r = validate('--json', file);
  assert.equal(r.code, 0);
  assert.deepEqual(parseJsonLines(r.stdout).map((d) => [d.code, d.severity, d.line]), [['empty-line', 'warning', 2]]);
});

test('usage and I/O problems exit 2 with one clear sentence on stderr', () => {
  const missing = validate('does/not/exist.jsonl');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does\/not\/exist\.jsonl does not exist/);
  const folder = validate('examples');
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /is a folder/);
  const kind = validate('--kind', 'banana', 'examples/chat.jsonl');
  assert.equal(kind.code, 2);
  assert.match(kind.stderr, /unknown --kind "banana"/);
  assert.equal(validate().code, 2);
  // An I/O error in one file does not hide the others' diagnostics.
  const mixed = validate('--json', 'nope.jsonl', 'test/fixtures/datasets/faulty.jsonl');
  assert.equal(mixed.code, 2);
  assert.ok(parseJsonLines(mixed.stdout).length >= 5);
});

test('--kind forces the dataset kind', () => {
  const r = validate('--json', '--kind', 'preference', 'examples/chat.jsonl');
  assert.equal(r.code, 1);
  const diags = parseJsonLines(r.stdout);
  assert.equal(diags.length, 24);
  assert.ok(diags.every((d) => d.code === 'wrong-kind'));
});

test('bytes that are not UTF-8 and NUL bytes are located per line', () => {
  const r = validate('--json', join(fixtures, 'bytes.jsonl'));
  assert.equal(r.code, 1);
  assert.deepEqual(parseJsonLines(r.stdout).map((d) => [d.line, d.column, d.code]), [
    [2, '{"text": "bad '.length + 1, 'invalid-utf8'],
    [4, '{"text": "nul '.length + 1, 'nul-byte'],
  ]);
});

test('a file larger than one read chunk keeps exact line numbers across chunk boundaries', () => {
  const dir = tempDir();
  const file = join(dir, 'big.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 60_000; i++) lines.push(JSON.stringify({ text: `record ${i} ${'lorem ipsum dolor sit amet '.repeat(6)}` }));
  const bad = [12_345, 37_000, 59_999];
  for (const i of bad) lines[i] = `{"text": "broken ${i}"`;
  writeFileSync(file, Buffer.concat([Buffer.from(lines.join('\n')), Buffer.from([0x0a, 0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a])]));
  const r = validate('--json', file);
  assert.equal(r.code, 1);
  const diags = parseJsonLines(r.stdout);
  assert.deepEqual(diags.filter((d) => d.code === 'json-syntax').map((d) => d.line), bad.map((i) => i + 1));
  assert.deepEqual(diags.filter((d) => d.code === 'invalid-utf8').map((d) => [d.line, d.column]), [[60_001, 7]]);
});

test('recipes are checked too: clean examples exit 0, a broken recipe reports with positions', () => {
  const clean = validate('--json', 'examples/dpo.anneal.yaml', 'examples/grpo.anneal.yaml');
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  const dir = tempDir();
  const recipe = join(dir, 'bad.anneal.yaml');
  writeFileSync(recipe, 'model: tiny\nstage: sft\ndata:\n  train: missing.jsonl\nlearning_rat: 0.0001\n');
  const r = validate('--json', recipe);
  assert.equal(r.code, 1);
  const diags = parseJsonLines(r.stdout);
  const unknown = diags.find((d) => d.line === 5);
  assert.ok(unknown, r.stdout);
  assert.equal(unknown.column, 1);
  assert.ok(diags.some((d) => d.line === 4 && d.severity === 'error'));
});

test('worker threads give exactly the output of one thread on a large file', () => {
  const dir = tempDir();
  const file = join(dir, 'large.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < 130_000; i++) {
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: `Question ${i} about topic ${i % 977}?` }, { role: 'assistant', content: `Answer ${i}: ${'detail '.repeat(20 + (i % 13))}` }] }));
  }
  for (const i of [5, 40_000, 65_001, 129_998]) lines[i] = lines[i].slice(0, -2);
  for (const i of [10, 70_000, 120_000]) lines[i] = lines[i - 7];
  lines[90_000] = lines[90_000].replace('"assistant"', '"asistant"');
  lines[100_000] = '';
  writeFileSync(file, lines.join('\n') + '\n');
  const one = validateWith({ ANNEAL_VALIDATE_THREADS: '1' }, file, '--json');
  const many = validateWith({ ANNEAL_VALIDATE_THREADS: '3' }, file, '--json');
  assert.equal(one.code, 1, one.stderr);
  assert.equal(many.code, 1, many.stderr);
  assert.equal(many.stdout, one.stdout);
  const diags = parseJsonLines(many.stdout);
  assert.deepEqual(diags.filter((d) => d.code === 'json-syntax').map((d) => d.line), [6, 40_001, 65_002, 129_999]);
  assert.deepEqual(diags.filter((d) => d.code === 'duplicate-record').map((d) => d.line), [11, 70_001, 120_001]);
  assert.deepEqual(diags.filter((d) => d.code === 'role-typo').map((d) => d.line), [90_001]);
  assert.deepEqual(diags.filter((d) => d.code === 'empty-line').map((d) => d.line), [100_001]);
});
