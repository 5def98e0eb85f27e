#!/usr/bin/env node
// `anneal`: one binary for the CLI and the daemon (like `ollama serve` / `ollama run`).
// This entry only picks the bundle that runs the subcommand. Node compiles the whole of a bundle
// before running any of it, and the whole program (daemon, engine, TensorFlow.js, tokenizers) is
// megabytes: compiling it took 0.2 s of the 0.3 s a one-line `anneal validate` took. So validate
// loads a bundle of validate alone (validateCli.ts), its worker threads one of the line analysis
// alone (validateWorker.ts), and every other subcommand, `--help` and `--version` load the whole
// program (cliAll.ts). validateCli.ts and cliAll.ts build the same program (cliProgram.ts), so
// `anneal validate ...` parses, prints and exits as it would in the whole program.
// In the bundles these requires name the sibling files (esbuild.mjs); under tsx, the sources.

import { isMainThread } from 'node:worker_threads';
import { WORKER_COMMAND } from './commands/validateWorkerCommand.ts';

const subcommand = process.argv[2];
if (subcommand === WORKER_COMMAND && !isMainThread) require('./validateWorker.ts');
else if (subcommand === 'validate' || subcommand === WORKER_COMMAND) require('./validateCli.ts');
else require('./cliAll.ts');
