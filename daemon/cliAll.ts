// Every `anneal` subcommand (dist/cliAll.js, loaded by cli.ts). Each subcommand lives in
// daemon/commands/<name>.ts and registers itself on the program.

import { newProgram, runProgram } from './cliProgram.ts';
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

const program = newProgram();
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
runProgram(program);
