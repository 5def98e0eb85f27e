// `anneal dashboard`: print the daemon's URL with the token in the fragment (never sent to a server
// in a request line or a Referer). The daemon serves the dashboard page there (daemon/server/page.ts).

import type { Command } from 'commander';
import { clientFor, reportError } from '../client/cliSupport.ts';
import { readDaemonInfo, readToken, resolveStateDir } from '../client/stateDir.ts';

export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('Print the URL of the daemon dashboard (starting the daemon if needed).')
    .option('--state-dir <dir>', 'daemon state dir (default $ANNEAL_HOME or ~/.anneal)')
    .action(async (opts: { stateDir?: string }) => {
      try {
        const client = await clientFor(opts.stateDir, true);
        client.close();
        const stateDir = resolveStateDir(opts.stateDir);
        const info = readDaemonInfo(stateDir);
        const token = readToken(stateDir);
        if (!info || !token) throw new Error(`The daemon for ${stateDir} did not leave its daemon.json/token behind.`);
        const http = info.url.replace(/^ws:/, 'http:');
        process.stdout.write(`${http}#token=${token}\n`);
        process.stderr.write(`Open this URL in a browser on this machine (for a remote daemon, forward its port first, e.g. \`ssh -L ${info.port}:127.0.0.1:${info.port} HOST\`, keeping the port so the page's origin matches). Samples are at /samples.\n`);
      } catch (err) {
        process.exitCode = reportError(err, false);
      }
    });
}
