// The hidden subcommand that validation worker threads start dist/cli.js with (validateParallel.ts).
// Its own module so that cli.ts can route it to validate's bundle without loading that bundle.
export const WORKER_COMMAND = 'validate-worker';
