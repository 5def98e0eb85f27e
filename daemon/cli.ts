#!/usr/bin/env node
// `anneal`: one binary for the CLI and the daemon (like `ollama serve` / `ollama run`).
// Each subcommand lives in daemon/commands/<name>.ts and registers itself on the program.

import { Command } from 'commander';
import { registerValidate } from './commands/validate.ts';
import { registerDaemon } from './commands/daemon.ts';
import { registerTrain } from './commands/train.ts';
import { registerRuns } from './commands/runs.ts';
import { registerStop } from './commands/stop.ts';
import { registerResume } from './commands/resume.ts';
import { registerLogs } from './commands/logs.ts';
import { registerDashboard } from './commands/dashboard.ts';
import { registerScorePairs } from './commands/scorePairs.ts';
import { registerEvaluate } from './commands/evaluate.ts';
import { registerExport } from './commands/export.ts';
import { ANNEAL_VERSION } from '../core/version.ts';

const program = new Command()
  .name('anneal')
  .description('LLM post-training: check datasets and recipes, train on a local daemon.')
  .version(ANNEAL_VERSION)
  .showHelpAfterError()
  // Usage errors exit 2, as the validate contract promises for every subcommand.
  .exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
    process.exit(2);
  });

registerValidate(program);
registerDaemon(program);
registerTrain(program);
registerRuns(program);
registerStop(program);
registerResume(program);
registerLogs(program);
registerDashboard(program);
registerScorePairs(program);
registerEvaluate(program);
registerExport(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`anneal: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});
