#!/usr/bin/env node
// `anneal`: one binary for the CLI and the daemon (like `ollama serve` / `ollama run`).
// This entry only picks the bundle that runs the subcommand. Node compiles the whole of a bundle
// before running any of it, and the whole program (daemon, engine, TensorFlow.js, tokenizers) is
// megabytes: compiling it cost `anneal validate` more than checking a 10 MB dataset. So validate
// and its worker threads load a bundle of validate alone (validateCli.ts); every other subcommand,
// `--help`, `--version` and anything else load the whole program (cliAll.ts). Both build the same
// program (cliProgram.ts), so `anneal validate ...` parses, prints and exits the same either way.
// In the bundles these requires name the sibling files (esbuild.mjs); under tsx, the sources.

import { WORKER_COMMAND } from './commands/validateWorkerCommand.ts';

const subcommand = process.argv[2];
if (subcommand === 'validate' || subcommand === WORKER_COMMAND) require('./validateCli.ts');
else require('./cliAll.ts');
