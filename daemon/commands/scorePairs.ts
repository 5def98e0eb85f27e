// `anneal score-pairs --data FILE --model RUN|DIR [--json]`: score every pair of a preference file
// with a run's output on the daemon and print them lowest margin first, so the pairs the model
// prefers backwards (margin < 0: mislabelled, or not learnt) lead. Ctrl-C cancels the scoring.

import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, ScorePairs, ScorePairsProgressNotification } from '../../core/protocol/daemon.ts';
import type { ScorePairsParams, ScorePairsResult } from '../../core/protocol/scorePairs.ts';
import { byMargin } from '../../core/pairs/pairScores.ts';
import { CliError, clientFor, positiveNumber, reportError } from '../client/cliSupport.ts';

interface ScoreOptions {
  data: string;
  model: string;
  beta?: number;
  maxLength?: number;
  json?: boolean;
  stateDir?: string;
}

const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3));

/** The human table: a summary, then one row per pair, lowest margin first, a rule where margins turn >= 0. */
export function formatScores(result: ScorePairsResult, file: string): string {
  const sorted = byMargin(result.scores);
  const negative = sorted.filter((s) => s.margin < 0).length;
  const out = [`Scored ${result.scores.length} pairs of ${file} with the ${result.description}.`];
  if (result.skipped > 0) out.push(`${result.skipped} pairs were left out: their prompt alone fills max_length.`);
  out.push(negative === 0 ? 'No pair has a negative margin: the model prefers every chosen answer.' : `${negative} ${negative === 1 ? 'pair has' : 'pairs have'} a negative margin: the model prefers the rejected answer (check their labels).`);
  out.push('', `${'LINE'.padStart(6)}  ${'MARGIN'.padStart(9)}  ${'CHOSEN'.padStart(9)}  ${'REJECTED'.padStart(9)}`);
  sorted.forEach((s, i) => {
    if (i === negative && negative > 0) out.push(`${''.padStart(6)}  ${'---------'}  margin >= 0 below`);
    out.push(`${String(s.line + 1).padStart(6)}  ${num(s.margin).padStart(9)}  ${num(s.chosen).padStart(9)}  ${num(s.rejected).padStart(9)}${s.margin < 0 ? '  prefers rejected' : ''}`);
  });
  return out.join('\n') + '\n';
}

export function registerScorePairs(program: Command): void {
  program
    .command('score-pairs')
    .description('Score every pair of a preference file with a trained model (a reward run, or a DPO/SFT run\'s adapter against its base) and list the pairs it prefers backwards first.')
    .requiredOption('--data <file>', 'preference data (JSONL with prompt/chosen/rejected)')
    .requiredOption('--model <run|dir>', 'a completed run id (see `anneal runs`) or a model folder: a reward model or a PEFT adapter')
    .option('--beta <b>', 'scale of the implicit reward (default: the run\'s beta, else 0.1)', positiveNumber('--beta', false))
    .option('--max-length <n>', 'longest pair in tokens (default: the run\'s max_length)', positiveNumber('--max-length', true))
    .option('--json', 'one JSON object per pair (1-based line), after a summary object')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (opts: ScoreOptions) => {
      const json = opts.json === true;
      // `anneal score-pairs ... | head`: a reader that has seen enough is not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      try {
        const data = resolve(opts.data);
        if (!existsSync(data)) throw new CliError(`${opts.data} does not exist.`, 2);
        // A folder here is sent as its absolute path; anything else is a run id the daemon knows.
        const model = existsSync(opts.model) ? resolve(opts.model) : opts.model;
        const client = await clientFor(opts.stateDir, true);
        const params: ScorePairsParams = { data, model, progressToken: 'cli' };
        if (opts.beta !== undefined) params.beta = opts.beta;
        if (opts.maxLength !== undefined) params.maxLength = opts.maxLength;
        const tty = process.stderr.isTTY === true && !json;
        client.on(ScorePairsProgressNotification.type, (p) => {
          if (tty) process.stderr.write(`\r\x1b[2Kscoring pairs ${p.done}/${p.total}`);
        });
        const cancel = new CancellationTokenSource();
        const onSigint = () => cancel.cancel();
        process.once('SIGINT', onSigint);
        let result: ScorePairsResult;
        try {
          result = await client.connection.sendRequest(ScorePairs.type, params, cancel.token);
        } catch (err) {
          if (err instanceof ResponseError && err.code === DaemonErrorCodes.RequestCancelled) throw new CliError('Scoring cancelled.', 130);
          throw err;
        } finally {
          process.off('SIGINT', onSigint);
          if (tty) process.stderr.write('\r\x1b[2K');
          client.close();
        }
        if (json) {
          const negative = result.scores.filter((s) => s.margin < 0).length;
          process.stdout.write(JSON.stringify({ event: 'result', kind: result.kind, description: result.description, runId: result.runId, model: result.modelDir, pairs: result.scores.length, negative, skipped: result.skipped }) + '\n');
          for (const s of byMargin(result.scores)) process.stdout.write(JSON.stringify({ event: 'pair', line: s.line + 1, margin: s.margin, chosen: s.chosen, rejected: s.rejected }) + '\n');
          return;
        }
        process.stdout.write(formatScores(result, basename(data)));
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
}
