// `anneal validate` and its worker threads (dist/validateCli.js, loaded by cli.ts): the program
// with validate alone, which parses `validate ...` exactly as the whole program does.

import { newProgram, runProgram } from './cliProgram.ts';
import { registerValidate } from './commands/validate.ts';

const program = newProgram();
registerValidate(program);
runProgram(program);
