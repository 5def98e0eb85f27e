#!/usr/bin/env node
// `npm run setup:native [-- --gpu]`: installs the native TensorFlow backend for the engine.
//
// Why this exists: @tensorflow/tfjs-node's own install script downloads libtensorflow 2.9.1 from
// Google's storage (unreachable on many machines, and pinned to CUDA 11.2). The same TensorFlow C
// API ships inside PyPI's TensorFlow wheels, and the addon builds from the sources the npm package
// ships (ENGINE.md). So: fetch the wheel with pip into a cache outside the repository, take the two
// shared libraries and the C headers out of it, install the npm package without its scripts, point
// its deps/ at the cache and build the addon from source. Idempotent: a second run only checks.
//
// --gpu: @tensorflow/tfjs-node-gpu from the CUDA 12 `tensorflow` wheel instead of `tensorflow-cpu`.
// --check: report what is installed and what is missing, change nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const TF_VERSION = '2.21.0';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const gpu = args.has('--gpu');
const checkOnly = args.has('--check');
const variant = gpu
  ? { wheel: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu' }
  : { wheel: 'tensorflow-cpu', pkg: '@tensorflow/tfjs-node' };
const cacheRoot = process.env.ANNEAL_CACHE ?? join(homedir(), '.cache', 'anneal');
const wheelDir = join(cacheRoot, 'wheels');
const libRoot = join(cacheRoot, `${variant.wheel}-${TF_VERSION}`);
const pkgDir = join(ROOT, 'node_modules', ...variant.pkg.split('/'));
// tfjs-node must match tfjs-core exactly: both register kernels in one global registry.
const tfjsVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@tensorflow', 'tfjs-core', 'package.json'), 'utf8')).version;

const say = (line) => console.log(`setup:native: ${line}`);

function fail(lines) {
  for (const l of lines) console.error(`setup:native: ${l}`);
  process.exit(1);
}

function ok(cmd, argv) {
  return spawnSync(cmd, argv, { stdio: 'ignore' }).status === 0;
}

/** Where Node's C headers are (node-gyp cannot download them offline); the prefix npm_config_nodedir wants. */
function nodeHeadersPrefix() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr', '/usr/local'].filter(Boolean);
  return candidates.find((p) => existsSync(join(p, 'include', 'node', 'node_api.h')));
}

/** True when the package loads and registers the `tensorflow` backend (checked in a child). */
function loads() {
  if (!existsSync(pkgDir)) return false;
  const probe = `require(${JSON.stringify(variant.pkg)}); const tf = require('@tensorflow/tfjs-core'); process.stdout.write(String(tf.findBackend('tensorflow') ? 'yes' : 'no'))`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  return r.status === 0 && r.stdout.trim() === 'yes';
}

if (loads()) {
  say(`${variant.pkg} ${tfjsVersion} is installed and loads (TensorFlow ${TF_VERSION} from the ${variant.wheel} wheel).`);
  process.exit(0);
}

// 1. What the build needs, all reported at once with the way to get each.
const missing = [];
if (!ok('python3', ['-m', 'pip', '--version'])) missing.push('pip (to fetch the TensorFlow wheel from PyPI): apt-get install python3-pip, or install Python 3 with pip');
if (!ok('c++', ['--version']) && !ok('g++', ['--version'])) missing.push('a C++ compiler (to build the addon): apt-get install g++ (or build-essential); on macOS: xcode-select --install');
if (!ok('make', ['--version'])) missing.push('make: apt-get install make');
const nodedir = nodeHeadersPrefix();
if (!nodedir) missing.push(`Node's C headers (include/node/node_api.h; node-gyp cannot download them offline): apt-get install libnode-dev for Debian's node, or use an official Node tarball, which has them under <prefix>/include/node; or set npm_config_nodedir to a prefix that has them`);
if (process.platform !== 'linux' || process.arch !== 'x64') missing.push(`a Linux x86_64 machine: this command takes TensorFlow's C library from the manylinux x86_64 wheel (this is ${process.platform}/${process.arch}); use the wasm backend instead`);
if (checkOnly) {
  say(`${variant.pkg} is not installed or does not load.`);
  for (const m of missing) say(`missing: ${m}`);
  process.exit(missing.length > 0 ? 1 : 0);
}
if (missing.length > 0) fail(['cannot build the native backend; missing:', ...missing.map((m) => `  - ${m}`)]);

// 2. The wheel, cached outside the repository (274 MB for tensorflow-cpu, 572 MB for tensorflow).
mkdirSync(wheelDir, { recursive: true });
const wheelPrefix = `${variant.wheel.replace(/-/g, '_')}-${TF_VERSION}-`;
let wheel = readdirSync(wheelDir).find((f) => f.startsWith(wheelPrefix) && f.endsWith('.whl'));
if (!wheel) {
  say(`downloading the ${variant.wheel}==${TF_VERSION} wheel from PyPI into ${wheelDir}`);
  // Any cp3xx manylinux wheel works: the C libraries do not link libpython.
  const r = spawnSync('python3', ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux_2_27_x86_64', '--python-version', '3.11', '-d', wheelDir, `${variant.wheel}==${TF_VERSION}`], { stdio: 'inherit' });
  wheel = readdirSync(wheelDir).find((f) => f.startsWith(wheelPrefix) && f.endsWith('.whl'));
  if (r.status !== 0 || !wheel) fail([`pip could not download ${variant.wheel}==${TF_VERSION}; check that PyPI is reachable (pip's own message is above).`]);
}

// 3. The two shared libraries and the C API headers, unpacked once per TensorFlow version.
const marker = join(libRoot, '.unpacked');
if (!existsSync(marker)) {
  say(`unpacking the C library and headers from ${wheel}`);
  rmSync(libRoot, { recursive: true, force: true });
  const unpack = `
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
keep_lib = ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')
headers = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/ctstring',
           'tensorflow/include/tsl/platform/ctstring', 'tensorflow/include/xla/tsl/c/')
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith('/'):
            continue
        if name in keep_lib:
            dest = os.path.join(out, 'lib', os.path.basename(name))
        elif name.startswith(headers):
            dest = os.path.join(out, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, 'wb') as dst:
            dst.write(src.read())
`;
  execFileSync('python3', ['-c', unpack, join(wheelDir, wheel), libRoot], { stdio: 'inherit' });
  for (const lib of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    if (!existsSync(join(libRoot, 'lib', lib))) fail([`${wheel} has no tensorflow/${lib}; delete it from ${wheelDir} and run again.`]);
  }
  writeFileSync(marker, `${wheel}\n`);
}

// 4. The npm package at tfjs-core's version, without its download script; not saved to package.json.
const installedVersion = existsSync(join(pkgDir, 'package.json')) ? JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version : null;
if (installedVersion !== tfjsVersion) {
  say(`installing ${variant.pkg}@${tfjsVersion} (scripts skipped)`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${variant.pkg}@${tfjsVersion}`], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) fail([`npm could not install ${variant.pkg}@${tfjsVersion} (its message is above).`]);
}

// 5. deps/ points at the cache. The addon links -ltensorflow and finds the libraries at run time by
// their SONAMEs (libtensorflow_cc.so.2, ...) through its RUNPATH $ORIGIN/../../deps/lib; the
// .so.2.9.1 names make the package's install script skip its own download.
const deps = join(pkgDir, 'deps');
rmSync(deps, { recursive: true, force: true });
mkdirSync(join(deps, 'lib'), { recursive: true });
const links = {
  'libtensorflow_cc.so.2': 'libtensorflow_cc.so.2',
  'libtensorflow_framework.so.2': 'libtensorflow_framework.so.2',
  'libtensorflow.so': 'libtensorflow_cc.so.2',
  'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
  'libtensorflow.so.2.9.1': 'libtensorflow_cc.so.2',
  'libtensorflow_framework.so.2.9.1': 'libtensorflow_framework.so.2',
};
for (const [name, target] of Object.entries(links)) symlinkSync(join(libRoot, 'lib', target), join(deps, 'lib', name));
symlinkSync(join(libRoot, 'include'), join(deps, 'include'));
// A custom tf-lib without a custom addon makes install.js build the addon from source.
writeFileSync(join(pkgDir, 'scripts', 'custom-binary.json'), JSON.stringify({ 'tf-lib': `file://${libRoot}` }, null, 2));

// 6. Build the addon from source.
say(`building the ${variant.pkg} addon from source (about 10-30 s)`);
const bin = join(ROOT, 'node_modules', '.bin');
const build = spawnSync(process.execPath, ['scripts/install.js', gpu ? 'gpu' : 'cpu'], {
  cwd: pkgDir,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, npm_config_nodedir: nodedir },
});
if (build.status !== 0 || !loads()) {
  fail([
    `building ${variant.pkg} failed (the compiler's messages are above).`,
    `The wasm backend still works without it. Check the C++ compiler, make and Node's headers (${nodedir}/include/node).`,
  ]);
}
say(`done: ${variant.pkg} ${tfjsVersion} on TensorFlow ${TF_VERSION} (${variant.wheel} wheel). The engine now picks the "tensorflow" backend first${gpu ? ' (CUDA when a GPU and CUDA 12 / cuDNN 9 are present)' : ''}.`);
