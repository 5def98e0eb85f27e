// `anneal eval` and `anneal generate`: a trained model measured against its baseline on a data file,
// or one prompt answered, for a quick look. Both run the engine in a child (dist/worker.js --job) of
// this process — no daemon needed; Ctrl-C kills it. --model takes a run id (its output), an adapter
// or model folder, a .gguf file, a Hub id or `tiny`.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RewardSpec } from '../../core/recipe/types.ts';
import { CliError, positiveNumber, reportError } from '../client/cliSupport.ts';
import { resolveStateDir } from '../client/stateDir.ts';
import type { EvalJob, EvalResult } from '../engine/evaluation.ts';
import type { GenerateJob, GenerateResult } from '../engine/generateText.ts';
import { runInChild } from '../runs/jobChild.ts';
import { workerBundlePath } from './daemon.ts';

/** A model argument as the engine opens it: a path made absolute, a run id turned into its output folder. */
export function modelRef(arg: string, stateDirFlag: string | undefined): string {
  if (existsSync(arg)) return resolve(arg);
  const output = join(resolveStateDir(stateDirFlag), 'runs', arg, 'output');
  if (existsSync(output) && statSync(output).isDirectory()) return output;
  return arg;
}

/** Runs `job` in the engine child; Ctrl-C cancels it. */
async function inChild<R>(kind: 'eval' | 'generate', job: unknown): Promise<R> {
  const cancel = new AbortController();
  const onSigint = () => cancel.abort();
  process.once('SIGINT', onSigint);
  try {
    return await runInChild<R>(workerBundlePath(), kind, job, cancel.signal);
  } catch (err) {
    if (cancel.signal.aborted) throw new CliError('Cancelled.', 130);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));

/** The human report: what was compared, each metric, then the first answers side by side. */
export function formatEval(result: EvalResult, shown = 5): string {
  const out = [result.description, ''];
  const width = Math.max(...Object.keys(result.metrics).map((k) => k.length), 10);
  for (const [k, v] of Object.entries(result.metrics)) out.push(`  ${k.padEnd(width)}  ${k.endsWith('_change') ? `${(v * 100).toFixed(1)}%` : fmt(v)}`);
  for (const n of result.notes) out.push(`  note: ${n}`);
  for (const s of result.samples.slice(0, shown)) {
    out.push('', `> ${s.prompt}`, `  model:    ${JSON.stringify(s.completion)}${s.outcome ? `  (${s.outcome})` : ''}`);
    if (s.baseline) out.push(`  baseline: ${JSON.stringify(s.baseline)}`);
  }
  return out.join('\n') + '\n';
}

interface EvalOptions {
  model: string;
  data: string;
  baseline?: string;
  judge?: string;
  reward?: string[];
  column?: string;
  maxPrompts?: number;
  maxNewTokens?: number;
  json?: boolean;
  stateDir?: string;
}

interface GenerateOptions {
  model: string;
  prompt: string;
  maxNewTokens?: number;
  temperature?: number;
  json?: boolean;
  stateDir?: string;
}

export function registerEvaluate(program: Command): void {
  program
    .command('eval')
    .description('Measure a trained model against its baseline (the base without its adapter) on a data file: eval loss and perplexity (and their change), KL to the baseline, entropy, distinct-1/2, answer length, reward functions, and the win rate a reward model judges.')
    .requiredOption('--model <run|dir>', 'a run id (its output), an adapter or model folder, a .gguf file, a Hub id or tiny')
    .requiredOption('--data <file>', 'JSONL: conversations or prompt/completion records (loss and answers), or prompts only (answers)')
    .option('--baseline <dir>', 'compare with this adapter instead of the base without the model\'s adapter')
    .option('--judge <run|dir>', 'a reward model judging the model\'s answers against the baseline\'s (win rate)')
    .option('--reward <name...>', 'built-in reward functions scoring the answers (answer_match, think_format, ...)')
    .option('--column <name>', 'the dataset column the rewards compare with (default: answer)')
    .option('--max-prompts <n>', 'prompts answered (default 64)', positiveNumber('--max-prompts', true))
    .option('--max-new-tokens <n>', 'longest answer (default 64)', positiveNumber('--max-new-tokens', true))
    .option('--json', 'one JSON object: metrics, samples, notes')
    .option('--state-dir <dir>', 'daemon state dir, where run ids are looked up (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (opts: EvalOptions) => {
      const json = opts.json === true;
      try {
        const data = resolve(opts.data);
        if (!existsSync(data)) throw new CliError(`${opts.data} does not exist.`, 2);
        const rewards: RewardSpec[] | undefined = opts.reward?.map((name) => ({ name, ...(opts.column ? { column: opts.column } : {}) }));
        const job: EvalJob = {
          model: modelRef(opts.model, opts.stateDir),
          data,
          ...(opts.baseline ? { baseline: modelRef(opts.baseline, opts.stateDir) } : {}),
          ...(opts.judge ? { judge: modelRef(opts.judge, opts.stateDir) } : {}),
          ...(rewards ? { rewards } : {}),
          ...(opts.maxPrompts ? { maxPrompts: opts.maxPrompts } : {}),
          ...(opts.maxNewTokens ? { maxNewTokens: opts.maxNewTokens } : {}),
        };
        const result = await inChild<EvalResult>('eval', job);
        process.stdout.write(json ? JSON.stringify(result) + '\n' : formatEval(result));
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });

  program
    .command('generate')
    .description('Answer one prompt with a model through its chat template (greedy unless --temperature), for a quick look at what a run learned.')
    .requiredOption('--model <run|dir>', 'a run id (its output), an adapter or model folder, a .gguf file, a Hub id or tiny')
    .requiredOption('--prompt <text>', 'the user\'s message')
    .option('--max-new-tokens <n>', 'longest answer (default 128)', positiveNumber('--max-new-tokens', true))
    .option('--temperature <t>', 'sample at this temperature (default 0: greedy)', positiveNumber('--temperature', false))
    .option('--json', 'one JSON object: completion, tokens, stopped, description')
    .option('--state-dir <dir>', 'daemon state dir, where run ids are looked up (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (opts: GenerateOptions) => {
      const json = opts.json === true;
      try {
        const job: GenerateJob = {
          model: modelRef(opts.model, opts.stateDir),
          prompt: [{ role: 'user', content: opts.prompt }],
          ...(opts.maxNewTokens ? { maxNewTokens: opts.maxNewTokens } : {}),
          ...(opts.temperature ? { temperature: opts.temperature } : {}),
        };
        const result = await inChild<GenerateResult>('generate', job);
        process.stdout.write(json ? JSON.stringify(result) + '\n' : `${result.completion}\n`);
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
}
