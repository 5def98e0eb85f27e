// dist/worker.js: the process one run trains in (forked by the daemon, see workerProcess.ts); with
// `--probe`, the daemon's short-lived backend probe (backendProbe.ts); with `--score`, a short-lived
// child scoring a file's preference pairs for `pairs/score` (scoreChild.ts); with `--job`, one engine
// job for `anneal eval` / `anneal generate` (jobChild.ts).
// A job whose recipe says `engine: trl` trains on TRL + Accelerate (daemon/trl) instead of the engine.
// All the logic is in workerMain.ts / probeMain.ts / scoreMain.ts; this entry only binds them to the real engine.

import { selectBackend } from '../engine/backend.ts';
import { train } from '../engine/loop.ts';
import { evaluate } from '../engine/evaluation.ts';
import { generateText } from '../engine/generateText.ts';
import { scorePairs } from '../engine/scorePairs.ts';
import { runJobChild } from './jobMain.ts';
import { runProbe } from './probeMain.ts';
import { runScorer } from './scoreMain.ts';
import { runWorker } from './workerMain.ts';
import { trainWithTrl, type TrlJob } from '../trl/train.ts';

if (process.argv.includes('--probe')) runProbe(selectBackend);
else if (process.argv.includes('--score')) runScorer(scorePairs);
else if (process.argv.includes('--job')) runJobChild({ eval: async (job) => (await selectBackend(), evaluate(job)), generate: async (job) => (await selectBackend(), generateText(job)) });
else runWorker((job: TrlJob, events, signal) => (job.engine === 'trl' ? trainWithTrl(job, events, signal) : train(job, events, signal)));
