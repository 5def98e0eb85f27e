// The `anneal` program as both CLI bundles build it (cli.ts picks the bundle): the same name,
// version, help and exit codes whichever bundle runs a subcommand.

import { Command } from 'commander';
import { ANNEAL_VERSION } from '../core/version.ts';

/** The program with no subcommands yet. */
export function newProgram(): Command {
  return (
    new Command()
      .name('anneal')
      .description('LLM post-training: check datasets and recipes, train on a local daemon.')
      .version(ANNEAL_VERSION)
      .showHelpAfterError()
      // Usage errors exit 2, as the validate contract promises for every subcommand.
      .exitOverride((err) => {
        if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
        process.exit(2);
      })
  );
}

/** Run the subcommand named in process.argv; an error nobody caught is one line and exit 2. */
export function runProgram(program: Command): void {
  program.parseAsync(process.argv).catch((err: unknown) => {
    console.error(`anneal: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
