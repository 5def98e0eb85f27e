// The backend ladder: CUDA (tfjs-node-gpu) -> TensorFlow CPU (tfjs-node) -> WebGPU (Dawn, a real
// GPU adapter only) -> wasm SIMD -> pure JS. The first that initialises wins; the report says why
// each one above it was skipped, in words a user can act on. The native backends are installed by
// `npm run setup:native` (TensorFlow's C library from PyPI's wheels, see scripts/setup-native.mjs)
// and only imported dynamically, so a machine without them still trains on wasm.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendReport } from './api.ts';
import { shareWasmIdentity } from './wasmKernels.ts';
import { setUpWasmThreads } from './wasmThreads.ts';

/** Ladder order; also the names a recipe or setting may force. */
export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

const WASM_FILE = 'tfjs-backend-wasm-simd.wasm';

// Loaded through a variable so bundlers leave the optional packages alone.
const load = (name: string): Promise<unknown> => import(name);

// tfjs-node brings its own copy of tfjs-core and tfjs-backend-cpu from node_modules next to the one
// bundled here; both register into the one global registry, so loading it prints a few hundred
// "already registered" warnings (harmless: the kernels are the same version) into every run's log.
const DUPLICATE_REGISTRATION = /already registered|Platform node has already been set|backend was already registered/;

/** Loads a native backend package without the duplicate-registration noise or TensorFlow's start-up logs. */
async function loadNative(name: string): Promise<unknown> {
  // TensorFlow reads this once when its library loads; oneDNN's banner is not for users.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!DUPLICATE_REGISTRATION.test(String(args[0]))) warn(...args);
  };
  try {
    return await load(name);
  } finally {
    console.warn = warn;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/** npm installed the package but its addon was never built (its own install script needs Google's servers). */
function notBuilt(e: unknown): boolean {
  return /tfjs_binding\.node\) can not be found/.test(message(e));
}

function notInstalled(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(message(e));
}

/** Where the wasm binaries are: dist/wasm next to the bundle, else the package's own dist/. */
export function wasmDirectory(): string | undefined {
  const here = typeof __dirname === 'string' ? __dirname : process.cwd();
  const candidates = [join(here, 'wasm'), join(here, '..', 'wasm'), join(process.cwd(), 'dist', 'wasm')];
  try {
    const req = createRequire(join(here, 'noop.js'));
    candidates.push(dirname(req.resolve('@tensorflow/tfjs-backend-wasm')));
  } catch {
    // not resolvable from here (e.g. bundled without node_modules): the other candidates remain
  }
  candidates.push(join(process.cwd(), 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist'));
  return candidates.find((d) => existsSync(join(d, WASM_FILE)));
}

type Attempt = () => Promise<string>; // resolves to the device description, throws with a reason

async function activate(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs could not initialise the ${name} backend`);
  await tf.ready();
}

const WEBGPU_PACKAGES = 'WebGPU needs the optional `webgpu` and `@tensorflow/tfjs-backend-webgpu` packages and a Vulkan/Metal/D3D12 driver';

/** The two optional WebGPU packages, as loaders (parameters so that their order can be tested). */
export interface WebGpuLoaders {
  /** Dawn's Node bindings (`webgpu`): create() makes the GPU object, globals are the WebGPU classes. */
  dawn: () => Promise<unknown>;
  /** tfjs's WebGPU backend (`@tensorflow/tfjs-backend-webgpu`). */
  backend: () => Promise<unknown>;
}

/**
 * Installs Dawn's GPU object as navigator.gpu, finds an adapter, and only then imports tfjs's WebGPU
 * backend: that module registers itself at import time only if navigator.gpu already exists, so
 * importing it first leaves no "webgpu" backend. Resolves to the adapter's description.
 */
export async function startWebGpu(loaders: WebGpuLoaders): Promise<string> {
  let dawn: { create?: (opts: string[]) => unknown; globals?: Record<string, unknown> };
  try {
    dawn = (await loaders.dawn()) as typeof dawn;
  } catch (e) {
    if (notInstalled(e)) throw new Error(`not installed (\`webgpu\` is missing; ${WEBGPU_PACKAGES})`);
    throw new Error(`failed to load webgpu: ${message(e)}`);
  }
  if (!dawn.create) throw new Error('the webgpu package has no create() (unsupported version)');
  Object.assign(globalThis, dawn.globals ?? {});
  const gpu = dawn.create([]) as { requestAdapter(): Promise<{ info?: { description?: string; vendor?: string } } | null> };
  Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no GPU adapter found (no WebGPU-capable GPU or driver)');
  try {
    await loaders.backend();
  } catch (e) {
    if (notInstalled(e)) throw new Error(`not installed (\`@tensorflow/tfjs-backend-webgpu\` is missing; ${WEBGPU_PACKAGES})`);
    throw new Error(`failed to load @tensorflow/tfjs-backend-webgpu: ${message(e)}`);
  }
  return adapter.info?.description || adapter.info?.vendor || 'GPU';
}

const attempts: Record<BackendName, Attempt> = {
  'tensorflow-gpu': async () => {
    try {
      await loadNative('@tensorflow/tfjs-node-gpu');
    } catch (e) {
      if (notInstalled(e)) throw new Error('not installed; for an NVIDIA GPU run `npm run setup:native -- --gpu` (needs CUDA 12 and cuDNN 9, e.g. from `pip install "tensorflow[and-cuda]"`)');
      if (notBuilt(e)) throw new Error('installed but not built; run `npm run setup:native -- --gpu` to build it against CUDA 12');
      const m = message(e);
      const cuda = /libcud|libcublas|libcufft|libcurand|libcusolver|libcusparse|libnccl/.test(m);
      throw new Error(cuda ? `installed, but CUDA libraries are missing (${m}); install CUDA 12 and cuDNN 9 (e.g. \`pip install "tensorflow[and-cuda]"\`)` : `failed to load: ${m}`);
    }
    await activate('tensorflow');
    const gpu = await cudaDeviceName();
    if (!gpu) throw new Error('installed, but TensorFlow sees no CUDA GPU (check `nvidia-smi`, CUDA 12 and cuDNN 9); it still runs on the CPU as "tensorflow"');
    return `CUDA (${gpu})`;
  },
  webgpu: async () => {
    const gpu = await startWebGpu({ dawn: () => load('webgpu'), backend: () => load('@tensorflow/tfjs-backend-webgpu') });
    if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu loaded but did not register a backend (it registers only if navigator.gpu exists when it is imported)');
    await activate('webgpu');
    return `WebGPU (${gpu})`;
  },
  tensorflow: async () => {
    // tfjs-node-gpu registers the same "tensorflow" backend and runs on the CPU without a GPU:
    // reuse it rather than load a second copy of the kernels.
    if (!tf.findBackend('tensorflow')) {
      try {
        await loadNative('@tensorflow/tfjs-node');
      } catch (e) {
        if (notInstalled(e)) throw new Error('not installed; run `npm run setup:native` for TensorFlow\'s native CPU library (several times faster than wasm, and no 4 GB limit)');
        if (notBuilt(e)) throw new Error('installed but not built; run `npm run setup:native` to build it');
        throw new Error(`failed to load: ${message(e)}; run \`npm run setup:native\` again to rebuild it`);
      }
    }
    await activate('tensorflow');
    return 'TensorFlow C library, CPU';
  },
  wasm: async () => {
    const dir = wasmDirectory();
    if (!dir) throw new Error(`${WASM_FILE} not found next to the bundle (dist/wasm) or in node_modules`);
    setWasmPaths(dir.endsWith('/') ? dir : `${dir}/`);
    // Registers the threaded build in place of the single-threaded one when threads are wanted and
    // start; otherwise says why not (wasmThreads.ts). Never fails the wasm backend.
    const note = await setUpWasmThreads(dir);
    await activate('wasm');
    shareWasmIdentity();
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = getThreadsCount();
    return `wasm${simd ? ' SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'}${note ? ` (${note})` : ''}`;
  },
  cpu: async () => {
    await activate('cpu');
    return 'pure JavaScript';
  },
};

async function cudaDeviceName(): Promise<string | undefined> {
  // tfjs-node-gpu logs the device but offers no API; nvidia-smi is the reliable way to name it.
  try {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 });
    return out.split('\n')[0]?.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Walks the ladder (or only `forced`) and activates the first backend that works. A forced backend
 * that fails throws one sentence naming the backend, the reason and the fix.
 */
export async function selectBackend(forced?: string): Promise<BackendReport> {
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    if (!(BACKEND_NAMES as readonly string[]).includes(forced)) {
      throw new Error(`Unknown backend "${forced}"; use one of ${BACKEND_NAMES.join(', ')} (or leave it unset to pick automatically).`);
    }
    try {
      const device = await attempts[forced as BackendName]();
      return { name: forced, device, skipped: [] };
    } catch (e) {
      throw new Error(`The ${forced} backend was requested but is unavailable: ${message(e)}. Unset the backend to fall back automatically.`);
    }
  }
  const skipped: BackendReport['skipped'] = [];
  for (const name of BACKEND_NAMES) {
    try {
      const device = await attempts[name]();
      return { name, device, skipped };
    } catch (e) {
      skipped.push({ name, reason: message(e) });
    }
  }
  throw new Error(`No TensorFlow.js backend could start: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
