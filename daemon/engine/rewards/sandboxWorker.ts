// The code of the worker thread a user reward runs in, started with `new Worker(code, { eval: true })`
// so that no extra bundle entry is needed: it is plain CommonJS in a string, kept small, and talks
// to userReward.ts only through the messages declared here.

/** workerData: the module's absolute path and its transpiled CommonJS code (transpile.ts). */
export interface SandboxData {
  file: string;
  code: string;
}

/** Main -> worker: score one batch. */
export interface CallMessage {
  type: 'call';
  id: number;
  args: Record<string, unknown>;
}

/** Worker -> main, once after loading: the default export is a function (and its name). */
export interface ReadyMessage {
  type: 'ready';
  name: string;
}

/** Worker -> main, once instead of `ready`: the module threw while loading, or exports no function. */
export interface LoadErrorMessage {
  type: 'load-error';
  /** `throw`: the module's top level threw (error set); `no-default`: no function to call. */
  kind: 'throw' | 'no-default';
  error?: { message: string; stack?: string };
  /** For `no-default`: what the default export was, and the module's export names. */
  exported?: string;
  names?: string[];
}

/** Worker -> main, per call: what the function returned (see ReturnedShape), or what it threw. */
export type ResultMessage =
  | { type: 'result'; id: number; ok: true; value: unknown; metrics: Record<string, number>; extra: Record<string, unknown[]> }
  | { type: 'result'; id: number; ok: false; error: { message: string; stack?: string } };

/** Worker -> main, any time: what the module wrote with console.log / info / debug (stdout) or warn / error (stderr). */
export interface OutputMessage {
  type: 'output';
  stream: 'stdout' | 'stderr';
  text: string;
}

export type WorkerMessage = ReadyMessage | LoadErrorMessage | ResultMessage | OutputMessage;

/**
 * The worker's source. It compiles the module under its real file name (so `require` resolves next
 * to it and stack traces name it, mapped back to the source by the inline source map), then answers
 * `call`s one at a time. TRL's `log_metric` / `log_extra` kwargs are provided and their values sent
 * back with the result. Results are reduced to values that can cross threads before sending, so a
 * function returning e.g. a class instance is reported as such rather than failing to clone.
 */
export const SANDBOX_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Module = require('node:module');
const path = require('node:path');
const { format } = require('node:util');
if (typeof process.setSourceMapsEnabled === 'function') process.setSourceMapsEnabled(true);
// console output travels as messages: a piped worker stdout would keep the process alive.
for (const [method, stream] of [['log', 'stdout'], ['info', 'stdout'], ['debug', 'stdout'], ['warn', 'stderr'], ['error', 'stderr']]) {
  console[method] = (...args) => parentPort.postMessage({ type: 'output', stream, text: format(...args) });
}

function errorOf(err) {
  if (err instanceof Error) return { message: String(err.message), stack: err.stack };
  return { message: typeof err === 'string' ? err : 'a non-Error value: ' + String(err) };
}
function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') {
    const c = v.constructor && v.constructor.name;
    return c && c !== 'Object' ? 'a ' + c : 'an object';
  }
  return v === undefined ? 'undefined' : 'a ' + typeof v;
}
function shape(value) {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) value = Array.from(value);
  if (!Array.isArray(value)) return { $type: typeName(value) };
  return value.map((v) => (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') ? v : { $type: typeName(v) });
}

const { file, code } = workerData;
let fn;
try {
  const m = new Module(file, null);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m._compile(code, file);
  m.loaded = true;
  const exp = m.exports;
  fn = exp !== null && (typeof exp === 'object' || typeof exp === 'function') && typeof exp.default === 'function' ? exp.default : exp;
  if (typeof fn !== 'function') {
    const names = exp !== null && typeof exp === 'object' ? Object.keys(exp).filter((k) => k !== '__esModule') : [];
    const exported = exp !== null && typeof exp === 'object' && 'default' in exp ? typeName(exp.default) : 'nothing';
    parentPort.postMessage({ type: 'load-error', kind: 'no-default', exported, names });
  } else {
    parentPort.postMessage({ type: 'ready', name: fn.name || path.basename(file).replace(/\.[^.]+$/, '') });
  }
} catch (err) {
  parentPort.postMessage({ type: 'load-error', kind: 'throw', error: errorOf(err) });
}

parentPort.on('message', async (msg) => {
  if (!msg || msg.type !== 'call' || typeof fn !== 'function') return;
  const metrics = {};
  const extra = {};
  const args = Object.assign({}, msg.args, {
    log_metric: (name, value) => { metrics[String(name)] = Number(value); },
    log_extra: (column, values) => { extra[String(column)] = Array.from(values, (v) => (v === null || typeof v !== 'object' ? v : String(v))); },
  });
  let reply;
  try {
    const value = await fn(args);
    reply = { type: 'result', id: msg.id, ok: true, value: shape(value), metrics, extra };
  } catch (err) {
    reply = { type: 'result', id: msg.id, ok: false, error: errorOf(err) };
  }
  parentPort.postMessage(reply);
});
`;
