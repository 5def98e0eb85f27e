// A user-written reward function (TRL's contract: `reward({ prompts, completions, completion_ids,
// trainer_state, ...columns })` -> one number or null per completion, sync or async) run in a
// worker thread of this process with a heap limit and a per-call timeout. Whatever the module does —
// throw, hang, exhaust its heap, return garbage — fails that call with one sentence naming the file;
// the process and its event loop carry on, and a worker that had to be stopped is started afresh for
// the next call.
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { checkRewards, RewardError } from './rewardCheck.ts';
import { SANDBOX_WORKER_SOURCE, type CallMessage, type SandboxData, type WorkerMessage } from './sandboxWorker.ts';
import { transpileRewardModule } from './transpile.ts';

/** A call's keyword arguments, as TRL passes them; every other dataset column rides along by name. */
export interface RewardArgs {
  prompts: unknown[];
  completions: unknown[];
  completion_ids?: number[][];
  trainer_state?: Record<string, unknown>;
  [column: string]: unknown;
}

/** One call's rewards and what the function logged through TRL's `log_metric` / `log_extra`. */
export interface RewardOutput {
  rewards: (number | null)[];
  metrics: Record<string, number>;
  extra: Record<string, unknown[]>;
}

export interface UserRewardOptions {
  /** A call (and loading the module) taking longer is stopped. Default 30 000. */
  timeoutMs?: number;
  /** The worker's V8 old-generation heap limit in MB. Default 256. */
  heapMb?: number;
  /** The worker's stack size in MB. Default 4 (Node's own default). */
  stackMb?: number;
  /**
   * Where the module's console output (log/info/debug: stdout, warn/error: stderr) goes, one line at a
   * time. Default: this process's stderr, prefixed with the file name. Direct process.stdout writes
   * are not captured.
   */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export const DEFAULT_REWARD_TIMEOUT_MS = 30_000;
export const DEFAULT_REWARD_HEAP_MB = 256;
const DEFAULT_STACK_MB = 4;

interface Pending {
  id: number;
  resolve: (message: WorkerMessage) => void;
  reject: (err: RewardError) => void;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** A loaded user reward module; `call` it once per generation batch, `close` it when the run ends. */
export class UserReward {
  /** The function's name (TRL logs `rewards/<name>/mean`), else the file's base name. */
  name: string;
  private worker: Worker | undefined;
  private pending: Pending | undefined;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly timeoutMs: number;
  private readonly heapMb: number;
  private readonly stackMb: number;

  private constructor(
    readonly file: string,
    private readonly code: string,
    private readonly options: UserRewardOptions,
  ) {
    this.name = basename(file).replace(/\.[^.]+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REWARD_TIMEOUT_MS;
    this.heapMb = options.heapMb ?? DEFAULT_REWARD_HEAP_MB;
    this.stackMb = options.stackMb ?? DEFAULT_STACK_MB;
  }

  /**
   * Reads, transpiles and starts the module at `file` (absolute), checking it exports a function, so
   * a recipe's bad file fails before the first step. Rejects with a RewardError of kind `load`.
   */
  static async load(file: string, options: UserRewardOptions = {}): Promise<UserReward> {
    const code = await transpileRewardModule(file);
    const reward = new UserReward(file, code, options);
    await reward.start();
    return reward;
  }

  /** Scores one batch: one number or null per completion. Rejects with a RewardError; the reward stays usable. */
  async call(args: RewardArgs): Promise<(number | null)[]> {
    return (await this.run(args)).rewards;
  }

  /** Like `call`, with what the function logged through `log_metric` and `log_extra`. */
  run(args: RewardArgs): Promise<RewardOutput> {
    // One call at a time, so a timeout stops only the call that hung.
    const result = this.queue.then(() => this.runNow(args));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Stops the worker; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  private async runNow(args: RewardArgs): Promise<RewardOutput> {
    if (this.closed) throw new RewardError(`Reward function ${this.file} was closed.`, this.file, 'closed');
    if (!Array.isArray(args.completions)) throw new TypeError('RewardArgs.completions must be an array');
    if (!this.worker) await this.start();
    const worker = this.worker!;
    const id = this.nextId++;
    const { log_metric: _m, log_extra: _e, ...plain } = args;
    const message: CallMessage = { type: 'call', id, args: plain };
    let reply: WorkerMessage;
    try {
      reply = await this.request(worker, id, () => worker.postMessage(message), 'call');
    } catch (err) {
      if (err instanceof RewardError) throw err;
      // postMessage throws DataCloneError for arguments that cannot cross threads: ours to fix, not the user's.
      throw new RewardError(`Reward function ${this.file} could not be given its arguments: ${(err as Error).message}.`, this.file, 'call');
    }
    if (reply.type !== 'result') throw new RewardError(`Reward function ${this.file} sent an unexpected message.`, this.file, 'call');
    if (!reply.ok) {
      throw new RewardError(`Reward function ${this.file} threw: ${reply.error.message.replace(/\.$/, '')}.`, this.file, 'call', reply.error.stack);
    }
    return { rewards: checkRewards(reply.value, args.completions.length, this.file), metrics: reply.metrics, extra: reply.extra };
  }

  /** Starts a worker and waits for the module to load; on failure, no worker is left running. */
  private async start(): Promise<void> {
    const data: SandboxData = { file: this.file, code: this.code };
    const worker = new Worker(SANDBOX_WORKER_SOURCE, {
      eval: true,
      workerData: data,
      // Not the parent's flags (e.g. a test's `--import tsx`): the user's module gets a plain Node.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, stackSizeMb: this.stackMb },
    });
    this.worker = worker;
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'output') {
        for (const line of msg.text.split('\n')) this.output(line, msg.stream);
        return;
      }
      if (this.pending && (msg.type !== 'result' || msg.id === this.pending.id)) {
        const p = this.pending;
        this.pending = undefined;
        p.resolve(msg);
      }
    });
    worker.on('error', (err: Error & { code?: string }) => this.fail(worker, this.describeCrash(err)));
    worker.on('exit', (code) => this.fail(worker, new RewardError(`Reward function ${this.file} stopped its worker (exit code ${code}).`, this.file, 'call')));
    // An idle worker must not keep the run's process alive if close() is forgotten; a call in flight
    // holds its timeout timer, which does.
    // (After the listeners: adding one refs the worker's port again.)
    worker.unref();
    let reply: WorkerMessage;
    try {
      reply = await this.request(worker, 0, () => undefined, 'load');
    } catch (err) {
      await this.stop();
      const e = err as RewardError;
      throw new RewardError(e.message.replace(/^Reward function /, 'Reward module '), this.file, 'load', e.details);
    }
    if (reply.type === 'ready') {
      this.name = reply.name;
      return;
    }
    await this.stop();
    if (reply.type === 'load-error' && reply.kind === 'no-default') {
      const names = reply.names?.length ? ` (it exports ${reply.names.join(', ')})` : '';
      throw new RewardError(`Reward module ${this.file} has no default export function${names}; add \`export default function reward({ prompts, completions }) { … }\`.`, this.file, 'load');
    }
    const error = reply.type === 'load-error' ? reply.error : undefined;
    const line = error?.stack ? lineIn(error.stack, this.file) : undefined;
    throw new RewardError(`Reward module ${this.file} failed to load${line ? ` at line ${line}` : ''}: ${(error?.message ?? 'unknown error').replace(/\.$/, '')}.`, this.file, 'load', error?.stack);
  }

  /** Sends (via `send`) and waits for the worker's answer to `id`, stopping the worker after the timeout. */
  private request(worker: Worker, id: number, send: () => void, what: 'load' | 'call'): Promise<WorkerMessage> {
    return new Promise<WorkerMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending?.id !== id) return;
        this.pending = undefined;
        const message = what === 'load'
          ? `Reward module ${this.file} did not finish loading within ${seconds(this.timeoutMs)} and was stopped; check its top-level code for a loop that never ends.`
          : `Reward function ${this.file} did not finish within ${seconds(this.timeoutMs)} and was stopped; make it faster or raise its timeout.`;
        reject(new RewardError(message, this.file, 'timeout'));
        void this.stop();
      }, this.timeoutMs);
      this.pending = {
        id,
        resolve: (msg) => { clearTimeout(timer); resolve(msg); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      try {
        send();
      } catch (err) {
        this.pending = undefined;
        clearTimeout(timer);
        reject(err);
      }
    });
  }

  /** The worker died (crash, out of memory, exit): the call in flight fails, the next starts a fresh worker. */
  private fail(worker: Worker, err: RewardError): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  private describeCrash(err: Error & { code?: string }): RewardError {
    if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new RewardError(`Reward function ${this.file} ran out of memory (its heap limit is ${this.heapMb} MB) and was stopped.`, this.file, 'memory', err.stack);
    }
    // An error thrown outside the call (a timer callback, an unawaited promise) ends the worker.
    return new RewardError(`Reward function ${this.file} crashed: ${String(err.message).replace(/\.$/, '')}.`, this.file, 'call', err.stack);
  }

  private async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private output(line: string, stream: 'stdout' | 'stderr'): void {
    if (this.options.onOutput) this.options.onOutput(line, stream);
    else process.stderr.write(`[reward ${basename(this.file)}] ${line}\n`);
  }
}

/** The line of `file` a stack trace's first frame in it points at (`file:LINE:COL`). */
function lineIn(stack: string, file: string): number | undefined {
  const at = stack.indexOf(`${file}:`);
  if (at < 0) return undefined;
  const m = /^:(\d+)/.exec(stack.slice(at + file.length));
  return m ? Number(m[1]) : undefined;
}
