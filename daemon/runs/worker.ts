// dist/worker.js: the process one run trains in (forked by the daemon, see workerProcess.ts), and,
// with `--probe`, the daemon's short-lived backend probe (backendProbe.ts).
// All the logic is in workerMain.ts / probeMain.ts; this entry only binds them to the real engine.

import { selectBackend } from '../engine/backend.ts';
import { train } from '../engine/loop.ts';
import { runProbe } from './probeMain.ts';
import { runWorker } from './workerMain.ts';

if (process.argv.includes('--probe')) runProbe(selectBackend);
else runWorker(train);
