// The tail of `anneal train` (and `anneal resume`) for a pipeline: follow each stage's run in turn
// with the same progress view as a single run, say at each handover what the gates decided, and exit
// 0 when every stage passed, 1 with the pipeline's message (which names the last good output)
// otherwise. Ctrl-C stops the pipeline (its running stage checkpoints first).

import {
  RunLogNotification, RunMetricsNotification, RunSampleNotification, RunStatusNotification, StopRun, Subscribe,
} from '../../core/protocol/daemon.ts';
import { GetPipeline, PipelineChangedNotification, isFinalPipelineStatus, type PipelineInfo } from '../../core/protocol/pipelines.ts';
import { isFinalStatus, type RunInfo } from '../../core/protocol/runs.ts';
import { answerLines } from '../../core/pipeline/answers.ts';
import type { DaemonClient } from './connect.ts';
import { exportLine, exportsPending } from './follow.ts';
import type { RunView } from './progress.ts';

export interface FollowPipelineOptions {
  json: boolean;
  /** A fresh view for each stage's run (a progress bar starts again at step 0). */
  view: () => RunView;
  /** Where the handover lines go (stderr beside a progress bar; stdout as JSON events). */
  say: (event: Record<string, unknown>, text: string) => void;
  /** Sent once the notifications are routed (e.g. the resume request), so no event falls in between. */
  afterSubscribe?: () => Promise<unknown>;
}

/** Follows `pipelineId` to its end and sets the process exit code. */
export async function followPipelineAndExit(client: DaemonClient, pipelineId: string, options: FollowPipelineOptions): Promise<void> {
  let pipeline: PipelineInfo | undefined;
  let wake = () => {};
  let current: string | undefined;
  let view: RunView | undefined;
  let ended: RunInfo | undefined;
  client.on(PipelineChangedNotification.type, (p) => {
    if (p.pipeline.id !== pipelineId) return;
    pipeline = p.pipeline;
    wake();
  });
  client.on(RunStatusNotification.type, ({ run }) => {
    if (run.id !== current) return;
    view?.status(run);
    if (isFinalStatus(run.status)) {
      ended = run;
      wake();
    }
  });
  client.on(RunMetricsNotification.type, (p) => p.runId === current && view?.metrics(p.record));
  client.on(RunSampleNotification.type, (p) => p.runId === current && view?.sample(p.record));
  client.on(RunLogNotification.type, (p) => p.runId === current && view?.log(p.line));
  const lost = client.closed.then(() => {
    throw new Error(`Lost the connection to the daemon; the pipeline goes on - \`anneal runs\` shows it.`);
  });
  lost.catch(() => {});
  /** Resolves at the next change (pipeline or run) for which `done` holds. */
  const until = async (done: () => boolean) => {
    while (!done()) await Promise.race([new Promise<void>((r) => (wake = r)), lost]);
  };

  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    view?.end();
    if (interrupts > 1) {
      process.stderr.write(`Leaving pipeline ${pipelineId} to stop on the daemon.\n`);
      process.exit(130);
    }
    process.stderr.write(`Stopping pipeline ${pipelineId} (its running stage writes a checkpoint first; Ctrl-C again to stop waiting)...\n`);
    client.connection.sendRequest(StopRun.type, { runId: pipelineId }).catch(() => {});
  };
  process.on('SIGINT', onSigint);
  try {
    await options.afterSubscribe?.();
    pipeline = (await client.connection.sendRequest(GetPipeline.type, { pipelineId })).pipeline;
    const followed = new Set<string>();
    for (;;) {
      const p: PipelineInfo = pipeline!;
      const stage = p.stages[p.current];
      const runId = stage?.runId;
      if (runId && !followed.has(runId) && stage.status !== 'passed') {
        followed.add(runId);
        current = runId;
        ended = undefined;
        view = options.view();
        options.say({ event: 'stage', pipelineId, index: p.current, count: p.stages.length, name: stage.name, runId }, `Stage ${p.current + 1}/${p.stages.length} (${stage.name}): run ${runId}${stage.model ? ` from ${stage.model}` : ''}`);
        const sub = await client.connection.sendRequest(Subscribe.type, { runId, fromStep: 0 });
        view.status(sub.run);
        if (isFinalStatus(sub.run.status)) ended ??= sub.run;
        await until(() => ended !== undefined);
        view.end();
        // The pipeline decides after its run ended: wait for it to move on or end.
        await until(() => isFinalPipelineStatus(pipeline!.status) || pipeline!.stages[pipeline!.current]?.runId !== runId);
        const verdict = pipeline!.stages.find((s) => s.runId === runId);
        const gates = (verdict?.gates ?? []).map((l) => `\n  gate ${l}`).join('');
        // The behaviour change the gates judged: each sample prompt's answer before and after the stage.
        const answers = verdict?.answers?.length ? `\n  answers, before -> after:\n${answerLines(verdict.answers, '    ').join('\n')}` : '';
        if (verdict?.status === 'passed') options.say({ event: 'handover', pipelineId, name: verdict.name, output: verdict.output, gates: verdict.gates, answers: verdict.answers }, `Stage ${verdict.name} passed its gates; output ${verdict.output}${gates}${answers}`);
        else if (verdict?.status === 'held') options.say({ event: 'held', pipelineId, name: verdict.name, verdict: verdict.verdict, gates: verdict.gates, answers: verdict.answers }, `Stage ${verdict.name} did not pass its gates${gates || (verdict.verdict ?? []).map((l) => `\n  ${l}`).join('')}${answers}`);
        continue;
      }
      if (isFinalPipelineStatus(p.status)) break;
      await until(() => pipeline !== p);
    }
    // The recipe's export: block is written from the result once the pipeline ended: say where it went.
    if (exportsPending(pipeline!.exports)) options.say({ event: 'exporting', pipelineId }, `Writing the recipe's exports of ${pipeline!.result?.output ?? 'the result'}...`);
    await until(() => !exportsPending(pipeline!.exports));
    for (const e of pipeline!.exports ?? []) options.say({ event: 'export', pipelineId, ...e }, exportLine(e));
    const final = pipeline!;
    if (final.status === 'completed') {
      options.say({ event: 'pipeline', pipelineId, status: final.status, result: final.result, message: final.message }, `Pipeline ${pipelineId} completed. ${final.message}`);
      process.exitCode = 0;
    } else {
      if (options.json) process.stdout.write(JSON.stringify({ event: 'error', pipelineId, status: final.status, result: final.result, message: final.message }) + '\n');
      process.stderr.write(`anneal: pipeline ${pipelineId} ${final.status}: ${final.message}\n`);
      process.exitCode = interrupts > 0 && final.status === 'stopped' ? 130 : 1;
    }
  } finally {
    process.off('SIGINT', onSigint);
    client.close();
  }
}
