// A validation worker thread (dist/validateWorker.js, loaded by cli.ts for the hidden
// `validate-worker` subcommand inside a worker thread): only the line analysis, so that a worker
// starts checking chunks sooner than the whole of validate's bundle would let it.

import { runWorker } from './commands/validateParallel.ts';

try {
  runWorker();
} catch (err) {
  // As the CLI reports any failure (cliProgram.ts); exiting ends this thread, and the main thread
  // fails the run with the worker's exit code.
  console.error(`anneal: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
