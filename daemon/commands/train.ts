// `anneal train STAGE --data FILE ...`: start a run on the daemon (starting the daemon if needed) and
// follow it to the end. Ctrl-C asks the daemon to checkpoint and stop the run.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { StartRun, type StartRunParams } from '../../core/protocol/daemon.ts';
import type { Stage } from '../../core/recipe/types.ts';
import { isNamedModel } from '../../core/modelRef.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { CliError, clientFor, reportError } from '../client/cliSupport.ts';
import { followAndExit } from '../client/followCommand.ts';
import { followPipelineAndExit } from '../client/followPipeline.ts';
import { stageOfRecipe } from '../client/recipeStage.ts';
import { humanView, jsonView } from '../client/progress.ts';

interface TrainOptions {
  data?: string;
  eval?: string;
  model?: string;
  config?: string;
  recipe?: string;
  maxSteps?: number;
  engine?: string;
  json?: boolean;
  stateDir?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--max-steps must be a positive integer, got "${value}".`);
  return n;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('Train on the local daemon (started if none is running) and show progress until the run ends.')
    .argument('[stage]', 'training stage, e.g. sft (default: the recipe\'s; a pipeline recipe runs all its stages)')
    .option('--data <file>', 'training data (JSONL)')
    .option('--eval <file>', 'evaluation data (JSONL)')
    .option('--model <model>', '`tiny` (built in), a Hugging Face model folder, a .gguf file, an Ollama name (name:tag, from the local Ollama store), or a Hub id org/name[@revision] (from the Hugging Face cache, downloaded when missing)')
    .option('--config <recipe>', 'recipe file (*.anneal.yaml); --data/--model/--max-steps override it')
    .option('--recipe <recipe>', 'the same as --config')
    .option('--max-steps <n>', 'stop after N optimizer steps', positiveInt)
    .option('--engine <engine>', '`anneal` (this machine) or `trl` (TRL + Accelerate in your Python environment; the recipe\'s `python:` and `accelerate:` apply); overrides the recipe\'s `engine:`')
    .option('--json', 'print one JSON object per event instead of a progress bar')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (stageArg: string | undefined, opts: TrainOptions) => {
      const json = opts.json === true;
      try {
        opts.config ??= opts.recipe;
        const stage = stageArg ?? (opts.config ? stageOfRecipe(resolve(opts.config)) : undefined);
        if (!stage) throw new CliError('Say which stage to train (`anneal train sft --data FILE`), or give a recipe that names it (--config RECIPE).', 2);
        if (!opts.data && !opts.config) throw new CliError('Say what to train on: --data FILE (or --config RECIPE naming the data).', 2);
        if (opts.engine !== undefined && opts.engine !== 'anneal' && opts.engine !== 'trl') throw new CliError(`--engine is \`anneal\` or \`trl\`, got "${opts.engine}".`, 2);
        if (opts.eval && !opts.data) throw new CliError('--eval needs --data too (or put both in the recipe).', 2);
        const client = await clientFor(opts.stateDir, true);
        if (!client.info.capabilities.stages.includes(stage as Stage)) {
          client.close();
          throw new CliError(`This daemon cannot train stage "${stage}" yet; it can train: ${client.info.capabilities.stages.join(', ')}.`, 2);
        }
        const params: StartRunParams = { stage: stage as Stage };
        if (opts.config) params.recipe = resolve(opts.config);
        if (opts.data) params.data = { train: resolve(opts.data), eval: opts.eval ? resolve(opts.eval) : undefined };
        // A Hub id (org/name[@revision]) that is no path here goes as it is; the run resolves it.
        if (opts.model) params.model = isNamedModel(opts.model, nodeFiles) ? opts.model : resolve(opts.model);
        if (opts.maxSteps !== undefined) params.args = { max_steps: opts.maxSteps };
        if (opts.engine) params.engine = opts.engine as StartRunParams['engine'];
        let run, pipeline;
        try {
          ({ run, pipeline } = await client.connection.sendRequest(StartRun.type, params));
        } catch (err) {
          client.close();
          throw err;
        }
        if (pipeline) {
          // A recipe with `stages:`: follow each stage's run in turn.
          if (!json) process.stdout.write(`Pipeline ${pipeline.id} started on ${client.info.stateDir}: ${pipeline.stages.map((s) => s.name).join(' -> ')}.\n`);
          const say = (event: Record<string, unknown>, text: string) => process.stdout.write(json ? JSON.stringify(event) + '\n' : text + '\n');
          await followPipelineAndExit(client, pipeline.id, { json, view: () => (json ? jsonView() : humanView(process.stdout)), say });
          return;
        }
        if (!json) process.stdout.write(`Run ${run.id} started on ${client.info.stateDir} (\`anneal logs ${run.id}\` for its log).\n`);
        await followAndExit(client, run.id, json ? jsonView() : humanView(process.stdout), { fromStep: 0, json });
      } catch (err) {
        process.exitCode = reportError(err, json);
      }
    });
}
