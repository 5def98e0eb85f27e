// dist/worker.js: the process one run trains in (forked by the daemon, see workerProcess.ts).
// All the logic is in workerMain.ts; this entry only binds it to the real engine.

import { train } from '../engine/train.ts';
import { runWorker } from './workerMain.ts';

runWorker(train);
