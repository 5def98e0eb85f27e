// One build script for every bundle Anneal ships. Type checking is separate (`tsc --noEmit`).
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * Node-side bundles: the extension host, the language server, the CLI/daemon, the training worker.
 * Node compiles the whole of a bundle whenever it loads one, so code that only some runs need is a
 * bundle of its own that they load when they need it (`siblings` below).
 */
const nodeEntries = {
  extension: 'extension/client/extension.ts',
  server: 'extension/server/server.ts',
  cli: 'daemon/cli.ts',
  worker: 'daemon/runs/worker.ts',
  checkWorker: 'daemon/runs/checkWorker.ts',
};

/**
 * Bundles that other bundles load at run time: a `require()` of one of these sources (or any import
 * of `typescript`) becomes a require of its sibling file in dist/, while a static import of the same
 * source still bundles it. dist/cli.js, the one binary users run, only picks the bundle of the
 * subcommand it is given; `anneal validate` checks datasets with neither the recipe checks nor
 * tokenizers compiled unless a recipe or --model asks for them.
 */
const siblings = {
  validateCli: 'daemon/validateCli.ts',
  validateWorker: 'daemon/validateWorker.ts',
  cliAll: 'daemon/cliAll.ts',
  recipeChecks: 'core/recipe/index.ts',
  tokenizers: 'core/tokenize/index.ts',
  // The TypeScript compiler (reward modules: checked by recipes, transpiled by the engine) is 10 MB,
  // most of every bundle that imported it.
  typescript: 'node_modules/typescript/lib/typescript.js',
};

const siblingBundles = {
  name: 'sibling-bundles',
  setup(build) {
    const byPath = new Map(Object.entries(siblings).map(([name, file]) => [resolve(file), name]));
    build.onResolve({ filter: /^typescript$/ }, () => ({ path: './typescript.js', external: true }));
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const name = args.kind === 'require-call' ? byPath.get(resolve(args.resolveDir, args.path)) : undefined;
      return name ? { path: `./${name}.js`, external: true } : undefined;
    });
  },
};

const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

const builds = [];
const present = Object.fromEntries(Object.entries({ ...nodeEntries, ...siblings }).filter(([, file]) => existsSync(file)));
builds.push({
  ...common,
  entryPoints: present,
  outdir: 'dist',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // jsonc-parser's UMD `main` requires its parts dynamically, which a bundle cannot follow; prefer ESM builds.
  mainFields: ['module', 'main'],
  // vscode is provided by the host; native/optional tfjs backends are resolved at run time.
  external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu'],
  // jsonc-parser's default (UMD) build loads its parts with a dynamic require esbuild cannot follow.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  plugins: [siblingBundles],
  banner: { js: '' },
});

// Browser-side bundles for webviews (dashboard, samples, pair inspector, report), added as they appear.
const webviewEntries = {};
for (const name of ['dashboard', 'samples', 'pairs', 'report', 'compare', 'pipelineReport']) {
  const file = `webviews/${name}/main.ts`;
  if (existsSync(file)) webviewEntries[`webviews/${name}`] = file;
}
if (Object.keys(webviewEntries).length > 0) {
  builds.push({ ...common, entryPoints: webviewEntries, outdir: 'dist', platform: 'browser', format: 'iife', target: 'es2022' });
}

mkdirSync('dist', { recursive: true });
// The wasm backend loads its .wasm binaries from a directory we name at run time.
const wasmDir = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
if (existsSync(wasmDir)) {
  mkdirSync('dist/wasm', { recursive: true });
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    if (existsSync(`${wasmDir}/${f}`)) cpSync(`${wasmDir}/${f}`, `dist/wasm/${f}`);
  }
}

// @vscode-elements' <vscode-icon> needs the codicon font; panels load it from dist/codicons/.
const codiconDir = 'node_modules/@vscode/codicons/dist';
if (existsSync(codiconDir)) {
  mkdirSync('dist/codicons', { recursive: true });
  for (const f of ['codicon.css', 'codicon.ttf']) cpSync(`${codiconDir}/${f}`, `dist/codicons/${f}`);
}

// The TRL engine's launcher (python/anneal_trl) runs in the user's Python; it ships as source beside the bundles.
if (existsSync('python/anneal_trl')) {
  mkdirSync('dist/python', { recursive: true });
  cpSync('python/anneal_trl', 'dist/python/anneal_trl', { recursive: true, filter: (src) => !src.includes('__pycache__') });
}

if (watch) {
  for (const options of builds) (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
