// The dashboard with 100k points per metric: (1) the pure data path (append, EMA, min/max downsample)
// in Node; (2) the real page in Chromium against a real daemon whose run worker is a load generator
// emitting 100k logged steps of 8 metrics as fast as it can: time until every point is on the page,
// and the cost of one full redraw (all charts) afterwards. Figures only; nothing is asserted.

import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { StartRun } from '../../core/protocol/daemon.ts';
import { downsampleIndices, gather } from '../../webviews/dashboard/downsample.ts';
import { Series } from '../../webviews/dashboard/series.ts';
import { ROOT, startGeneratorDaemon, writeRecipe } from './generatorDaemon.ts';

const N = 100_000;

function pureDataPath(): void {
  const s = new Series();
  let t = performance.now();
  for (let i = 1; i <= N; i++) s.push(i, 5 / Math.sqrt(i) + Math.sin(i) * 0.1);
  const append = performance.now() - t;
  t = performance.now();
  s.smoothedValues(0.6);
  const emaCold = performance.now() - t;
  const warm: number[] = [];
  for (let k = 0; k < 20; k++) {
    t = performance.now();
    s.smoothedValues(0.5 + k / 50); // a new weight recomputes every point
    warm.push(performance.now() - t);
  }
  warm.sort((a, b) => a - b);
  const frames: number[] = [];
  for (let k = 0; k < 50; k++) {
    t = performance.now();
    const idx = downsampleIndices(s.steps, s.values, s.length, 1, N, 1200);
    gather(s.steps, idx);
    gather(s.values, idx);
    gather(s.smoothedValues(0.6), idx);
    frames.push(performance.now() - t);
  }
  frames.sort((a, b) => a - b);
  console.log(`pure: append ${N} points ${append.toFixed(1)} ms; EMA over all: first ${emaCold.toFixed(2)} ms, warm median ${warm[10]!.toFixed(2)} ms (then incremental per new point); downsample+gather to 1200 px median ${frames[25]!.toFixed(2)} ms`);
}

const generatorSource = (root: string) => `
import { runWorker } from ${JSON.stringify(join(root, 'daemon/runs/workerMain.ts'))};
runWorker(async (job, events, signal) => {
  const total = job.args.max_steps;
  events.status({ phase: 'training', totalSteps: total });
  for (let step = 1; step <= total && !signal.aborted; step++) {
    events.metrics({ step, loss: 5 / Math.sqrt(step) + Math.sin(step) * 0.1, learning_rate: 1e-3 * (1 - step / total), grad_norm: 1 + Math.cos(step / 50),
      epoch: step / 1000, num_tokens: step * 512, mean_token_accuracy: 1 - 1 / Math.sqrt(step), 'train/tokens_per_second': 1000 + (step % 97), 'eval/loss': 5 / Math.sqrt(step) + 0.2 });
    if (step % 1000 === 0) await new Promise((r) => setImmediate(r));
  }
  return { finalStep: total, outputDir: job.runDir, stopped: signal.aborted };
});
`;

async function browserPath(): Promise<void> {
  const { client, work, port, token, stop } = await startGeneratorDaemon('anneal-dashboard-bench-', generatorSource(ROOT));
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
  try {
    const recipe = join(work, 'r.anneal.yaml');
    writeRecipe(recipe, N, 1);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
    await page.waitForSelector('#no-runs:not([hidden]), #run-status');
    const started = performance.now();
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
    // The page follows the newest run when it loads; reload it onto this one.
    await page.goto(`http://127.0.0.1:${port}/?run=${run.id}`);
    const redraws: number[] = [];
    const poll = setInterval(() => {
      void page.evaluate(() => Number(document.body.dataset.redrawMs)).then((ms) => redraws.push(ms), () => {});
    }, 100);
    await page.waitForFunction((n) => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) === n, N, { timeout: 300_000, polling: 200 });
    clearInterval(poll);
    const streamed = performance.now() - started;
    redraws.sort((a, b) => a - b);
    console.log(`browser: ${N} steps x 8 metrics streamed live onto the page in ${(streamed / 1000).toFixed(1)} s; redraw (all charts) while streaming median ${redraws[Math.floor(redraws.length / 2)]?.toFixed(1)} ms, max ${redraws.at(-1)?.toFixed(1)} ms`);
    // Full redraws with every point held: change the smoothing (every smoothed chart rebuilds its EMA).
    const full: number[] = [];
    for (const value of ['0.5', '0.7', '0.8', '0.9', '0.95']) {
      const before = await page.evaluate(() => document.body.dataset.redrawMs);
      await page.locator('#smoothing').fill(value);
      await page.waitForFunction((b) => document.body.dataset.redrawMs !== b, before);
      full.push(Number(await page.evaluate(() => document.body.dataset.redrawMs)));
    }
    full.sort((a, b) => a - b);
    console.log(`browser: full redraw of 8 charts x ${N} points after a smoothing change: median ${full[2]!.toFixed(1)} ms (min ${full[0]!.toFixed(1)}, max ${full[4]!.toFixed(1)})`);
  } finally {
    await browser.close();
    await stop();
  }
}

pureDataPath();
browserPath().catch((err) => {
  console.error(err);
  process.exit(1);
});
