// Metric delivery latency through the daemon: worker process -> IPC -> daemon (append to
// metrics.jsonl, dispatch) -> WebSocket -> subscribed client, at 100 and 1000 events/s.
// The worker here is a load generator (a Train function that only emits timestamped metrics), bundled
// on the fly and handed to a real daemon through ANNEAL_WORKER: the engine is not what is measured.

import { join } from 'node:path';
import { RunMetricsNotification, RunStatusNotification, StartRun, Subscribe } from '../../core/protocol/daemon.ts';
import type { DaemonClient } from '../../daemon/client/connect.ts';
import { ROOT, startGeneratorDaemon, writeRecipe } from './generatorDaemon.ts';

/** The load generator: emits `logging_steps` metrics per second, `max_steps` in all, each stamped. */
const generatorSource = (root: string) => `
import { runWorker } from ${JSON.stringify(join(root, 'daemon/runs/workerMain.ts'))};
const now = () => performance.timeOrigin + performance.now();
runWorker(async (job, events, signal) => {
  const rate = job.args.logging_steps; // events per second, passed through the recipe
  const total = job.args.max_steps;
  events.status({ phase: 'training', totalSteps: total });
  const start = now();
  for (let step = 1; step <= total && !signal.aborted; step++) {
    const due = start + (step * 1000) / rate;
    while (now() < due) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(5, due - now() - 0.5))));
    events.metrics({ step, loss: 1 / step, sent_ms: now() });
  }
  return { finalStep: total, outputDir: job.runDir, stopped: signal.aborted };
});
`;
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(client: DaemonClient, work: string, rate: number, seconds: number): Promise<void> {
  const recipe = join(work, `r${rate}.anneal.yaml`);
  writeRecipe(recipe, rate * seconds, rate);
  const latencies: number[] = [];
  let runId = '';
  const done = new Promise<void>((r) => {
    client.on(RunStatusNotification.type, ({ run }) => {
      if (run.id === runId && ['completed', 'failed', 'stopped'].includes(run.status)) r();
    });
  });
  client.on(RunMetricsNotification.type, ({ runId: id, record }) => {
    if (id === runId) latencies.push(performance.timeOrigin + performance.now() - record.sent_ms);
  });
  ({ run: { id: runId } } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe }));
  await client.connection.sendRequest(Subscribe.type, { runId });
  await done;
  latencies.sort((a, b) => a - b);
  const fmt = (x: number) => x.toFixed(2).padStart(7);
  console.log(`${String(rate).padStart(5)} events/s  n=${String(latencies.length).padStart(5)}  p50 ${fmt(percentile(latencies, 50))} ms  p99 ${fmt(percentile(latencies, 99))} ms  max ${fmt(latencies.at(-1) ?? NaN)} ms`);
}

async function main(): Promise<void> {
  const { client, work, stop } = await startGeneratorDaemon('anneal-daemon-bench-', generatorSource(ROOT));

  console.log('metric delivery latency, worker emit -> subscribed WebSocket client (includes the append to metrics.jsonl):');
  await measure(client, work, 100, 5);
  await measure(client, work, 1000, 3);
  await stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
