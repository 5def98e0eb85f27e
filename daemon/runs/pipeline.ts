// Pipelines in the daemon: a recipe with `stages:` runs its stages one after another, each an ordinary
// run of the RunManager (queue, worker, checkpoints, stop/resume all theirs). This file only decides
// what comes next, from what each run leaves: when a stage's run ends, its gate report (gates.json)
// says whether it hands over (core/pipeline/handover.ts); the next stage starts from its output (the
// adapter continues, or is merged first), `@name` references resolve to the outputs, and a failed gate
// or a rollback halts the pipeline with the last good output as its result. The state is written to
// `<stateDir>/pipelines/<id>/` on every change, so a daemon killed at any point finds it again.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import type { GateReport } from '../../core/gates/evaluate.ts';
import { stageAnswers } from '../../core/pipeline/answers.ts';
import { haltMessage, pipelineResult, resolveStageRefs, stageOutcome } from '../../core/pipeline/handover.ts';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import { isFinalPipelineStatus, type PipelineInfo } from '../../core/protocol/pipelines.ts';
import { isFinalStatus, type RunInfo, type SampleRecord } from '../../core/protocol/runs.ts';
import type { RunManager } from './manager.ts';
import { exportOutput } from './exportOutput.ts';
import { mergeAdapter, type MergeJob } from './pipelineMerge.ts';
import { ExportJobs, exportRecords, failUnfinishedExports } from './recipeExports.ts';
import { newPipelineId, PipelineStore, type StoredPipeline } from './pipelineStore.ts';
import type { PreparedPipeline } from './prepare.ts';

export interface PipelineManagerOptions {
  /** dist/cli.js: a `merge: true` stage runs `anneal export --format merged` with it. */
  cliPath: string;
  log?: (line: string) => void;
}

/** What `runs/start|stop|resume` answer for a pipeline: its current stage's run, and the pipeline. */
export interface PipelineAnswer {
  run: RunInfo;
  pipeline: PipelineInfo;
}

const now = () => new Date().toISOString();

export class PipelineManager {
  private readonly pipelines = new Map<string, StoredPipeline>();
  private readonly listeners = new Set<(p: PipelineInfo) => void>();
  /** Merges in progress, by pipeline id, and whether a stop asked for them to end. */
  private readonly merges = new Map<string, { job: MergeJob; stopped: boolean }>();
  /** The recipe's `export:` of a result in progress, by pipeline id (recipeExports.ts). */
  private readonly exports: ExportJobs;
  private closing = false;

  constructor(private readonly runs: RunManager, readonly store: PipelineStore, private readonly options: PipelineManagerOptions) {
    this.exports = new ExportJobs(options.cliPath);
    runs.addListener({ status: (run) => this.onRunStatus(run), metrics() {}, sample() {}, log() {} });
  }

  addListener(fn: (p: PipelineInfo) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  has(id: unknown): boolean {
    return typeof id === 'string' && this.pipelines.has(id);
  }

  list(): PipelineInfo[] {
    return [...this.pipelines.values()].map((p) => p.info).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  get(id: unknown): PipelineInfo {
    return this.stored(id).info;
  }

  log(id: unknown): string[] {
    return this.store.readLog(this.stored(id).info.id);
  }

  /**
   * After the RunManager recovered its runs: every pipeline that was running when the last daemon
   * ended looks at its current stage's run again (a run that completed just before the crash hands
   * over now; one marked interrupted makes the pipeline interrupted, for `anneal resume`).
   */
  recover(): void {
    for (const p of this.store.loadAll(this.options.log)) {
      this.pipelines.set(p.info.id, p);
      if (failUnfinishedExports(p.info.exports, `anneal export ${p.info.result?.output ?? 'OUTPUT'}`)) this.save(p);
      if (isFinalPipelineStatus(p.info.status)) continue;
      const stage = p.info.stages[p.info.current]!;
      const run = stage.runId ? this.runOf(stage.runId) : undefined;
      if (!run) {
        // The daemon ended between two stages (or during a merge): the next stage waits for resume.
        stage.status = 'pending';
        this.end(p, 'interrupted', `The daemon stopped before stage ${this.label(p, p.info.current)} started; \`anneal resume ${p.info.id}\` starts it.`);
        continue;
      }
      this.onRunStatus(run);
    }
  }

  /** Starts a checked pipeline: its first stage's run is queued now, the others as each hands over. */
  start(prepared: PreparedPipeline): PipelineAnswer {
    let id = newPipelineId();
    while (this.pipelines.has(id) || this.store.exists(id)) id = newPipelineId();
    // A shared `output_dir` is the pipeline's, not each stage's: were every stage to copy its output
    // there, a stage held by its gates would overwrite the last good one.
    const dirs = new Set(prepared.stages.map((s) => s.run.exportDir));
    const exportDir = dirs.size === 1 ? prepared.stages[0]!.run.exportDir : undefined;
    const runs = prepared.stages.map((s) => (exportDir ? { ...s.run, exportDir: undefined } : s.run));
    const info: PipelineInfo = {
      id,
      recipe: prepared.recipe,
      ...(exportDir ? { exportDir } : {}),
      ...(prepared.exports?.length ? { exports: exportRecords(prepared.exports, this.store.dir(id)) } : {}),
      status: 'running',
      message: 'Starting.',
      createdAt: now(),
      current: 0,
      stages: prepared.stages.map((s) => ({ name: s.name, stage: s.run.stage, from: s.from, merge: s.merge, status: 'pending' })),
    };
    const p: StoredPipeline = { info, runs };
    this.pipelines.set(id, p);
    this.store.save(p);
    this.note(p, `pipeline ${id} from ${prepared.recipe}: ${info.stages.map((s) => s.name).join(' -> ')}`);
    const run = this.startStage(p, 0);
    if (!run) throw new ResponseError(DaemonErrorCodes.InvalidState, p.info.message);
    return { run, pipeline: p.info };
  }

  /** Stops the pipeline where it is: its running stage checkpoints and stops (or a merge is ended). */
  stop(id: unknown, force = false): PipelineAnswer {
    const p = this.stored(id);
    const merge = this.merges.get(p.info.id);
    if (merge) {
      merge.stopped = true;
      merge.job.kill();
    } else {
      const runId = this.currentRunId(p);
      if (runId && p.info.status === 'running') this.runs.stop(runId, force);
    }
    return this.answer(p);
  }

  /** Continues a stopped, interrupted or failed pipeline: its current stage resumes from its checkpoint, or starts. */
  resume(id: unknown): PipelineAnswer {
    const p = this.stored(id);
    const { status } = p.info;
    if (status === 'completed') throw new ResponseError(DaemonErrorCodes.InvalidState, `Pipeline ${p.info.id} already completed; its result is ${p.info.result?.output ?? 'in its last stage'}.`);
    if (status === 'halted') throw new ResponseError(DaemonErrorCodes.InvalidState, `Pipeline ${p.info.id} was halted by its gates (${p.info.message}) Change the recipe (the stage or its gates) and start the pipeline again.`);
    if (status === 'running') throw new ResponseError(DaemonErrorCodes.InvalidState, `Pipeline ${p.info.id} is running (stage ${this.label(p, p.info.current)}); stop it first.`);
    if (this.closing) throw new ResponseError(DaemonErrorCodes.InvalidState, 'The daemon is shutting down; resume the pipeline again in a moment.');
    const stage = p.info.stages[p.info.current]!;
    const run = stage.runId ? this.runOf(stage.runId) : undefined;
    if (run && run.status !== 'completed') {
      this.note(p, `resuming stage ${this.label(p, p.info.current)} (run ${run.id})`);
      // The run's status events bring the pipeline back to running (onRunStatus).
      this.runs.resume(run.id);
      return this.answer(p);
    }
    if (run) {
      // Its run completed but the handover never happened (the daemon ended in between): decide now.
      this.onRunStatus(run);
      return this.answer(p);
    }
    this.note(p, `resuming: starting stage ${this.label(p, p.info.current)}`);
    this.startStage(p, p.info.current);
    return this.answer(p);
  }

  /** Graceful daemon shutdown: a merge in progress is ended; the pipeline is resumed later. */
  shutdown(): void {
    this.closing = true;
    for (const merge of this.merges.values()) merge.job.kill();
    void this.exports.killAll();
  }

  // ---- internals ------------------------------------------------------------------------------

  /**
   * Starts stage `index`: merges the incoming adapter first when the stage says `merge: true`, fills its
   * `@name` references with the earlier stages' outputs, and queues its run. Returns the run when it
   * was queued now (not after a merge).
   */
  private startStage(p: StoredPipeline, index: number): RunInfo | undefined {
    const stage = p.info.stages[index]!;
    p.info.current = index;
    p.info.status = 'running';
    p.info.endedAt = undefined;
    stage.verdict = undefined;
    const from = stage.from.kind === 'stage' ? this.outputOf(p, stage.from.name) : undefined;
    if (stage.merge && from) {
      const out = join(this.store.dir(p.info.id), `merged-${stage.from.kind === 'stage' ? stage.from.name : stage.name}`);
      stage.status = 'merging';
      p.info.message = `Merging ${from} into its base before stage ${this.label(p, index)}.`;
      this.note(p, p.info.message);
      this.save(p);
      const job = mergeAdapter(this.options.cliPath, from, out);
      const merge = { job, stopped: false };
      this.merges.set(p.info.id, merge);
      job.done.then(
        (merged) => {
          this.merges.delete(p.info.id);
          this.note(p, `merged into ${merged}`);
          this.launch(p, index, merged);
        },
        (err: Error) => {
          this.merges.delete(p.info.id);
          stage.status = 'pending';
          if (merge.stopped) this.end(p, 'stopped', `Stopped before stage ${this.label(p, index)} (during its merge); \`anneal resume ${p.info.id}\` starts it.`);
          else if (this.closing) this.end(p, 'interrupted', `The daemon shut down during the merge before stage ${this.label(p, index)}; \`anneal resume ${p.info.id}\` starts it.`);
          else this.end(p, 'failed', `Merging the adapter before stage ${this.label(p, index)} failed: ${err.message}. \`anneal resume ${p.info.id}\` tries again.`);
        },
      );
      return undefined;
    }
    return this.launch(p, index, from);
  }

  /** Queues stage `index`'s run, its model `model` when it starts from an earlier output. */
  private launch(p: StoredPipeline, index: number, model: string | undefined): RunInfo | undefined {
    const stage = p.info.stages[index]!;
    const outputs = new Map(p.info.stages.filter((s) => s.output).map((s) => [s.name, s.output!]));
    try {
      const prepared = resolveStageRefs({ ...p.runs[index]!, ...(model ? { model } : {}) }, outputs);
      const run = this.runs.start({ ...prepared, pipeline: { id: p.info.id, index, count: p.info.stages.length, name: stage.name } });
      stage.runId = run.id;
      stage.model = run.model;
      stage.status = 'running';
      p.info.message = `Stage ${this.label(p, index)}: run ${run.id}${model ? `, from ${model}` : ''}.`;
      this.note(p, p.info.message);
      this.save(p);
      return run;
    } catch (err) {
      stage.status = 'pending';
      const why = err instanceof Error ? err.message : String(err);
      if (this.closing || (err instanceof ResponseError && err.code === DaemonErrorCodes.InvalidState)) {
        this.end(p, 'interrupted', `Stage ${this.label(p, index)} could not start (${why}); \`anneal resume ${p.info.id}\` starts it.`);
      } else {
        this.end(p, 'failed', `Stage ${this.label(p, index)} could not start: ${why}`);
      }
      return undefined;
    }
  }

  /** A run changed: if it is its pipeline's current stage, follow it (hand over, halt, stop). */
  private onRunStatus(run: RunInfo): void {
    const p = run.pipeline ? this.pipelines.get(run.pipeline.id) : undefined;
    if (!p || !run.pipeline) return;
    const index = run.pipeline.index;
    const stage = p.info.stages[index];
    if (!stage || stage.runId !== run.id || index !== p.info.current) return;
    const report = run.status === 'completed' ? this.report(run.id) : undefined;
    const outcome = stageOutcome(run, report);
    if (report) stage.gates = report.results.filter((r) => r.verdict !== 'not-measured').map((r) => `${r.kind}${r.condition.severity === 'advise' ? ' (advice)' : ''} ${r.line}`);
    // What the stage changed: each sample prompt's answer at the run's first sample and its last.
    if (isFinalStatus(run.status)) stage.answers = stageAnswers(this.runs.store.readRecords<SampleRecord>(run.id, 'samples.jsonl'));
    const label = this.label(p, index);
    switch (outcome.kind) {
      case 'pending':
        // A stage run resumed (through its pipeline or by its own id) brings the pipeline back.
        if (p.info.status !== 'running' || stage.status !== 'running') {
          stage.status = 'running';
          p.info.status = 'running';
          p.info.endedAt = undefined;
          p.info.message = `Stage ${label}: run ${run.id} ${run.status}.`;
          this.save(p);
        }
        return;
      case 'passed': {
        if (stage.status === 'passed') return;
        stage.status = 'passed';
        stage.output = outcome.output;
        p.info.result = pipelineResult(p.info.stages);
        for (const n of outcome.notes) this.note(p, `stage ${label}: ${n}`);
        this.note(p, `stage ${label} passed its gates; output ${outcome.output}`);
        if (index + 1 < p.info.stages.length) {
          // The next stage starts once the finishing run's own bookkeeping is done (the RunManager is
          // still inside its exit handler).
          p.info.message = `Stage ${label} passed its gates; starting stage ${this.label(p, index + 1)}.`;
          p.info.current = index + 1;
          this.save(p);
          queueMicrotask(() => this.startStage(p, index + 1));
        } else {
          this.end(p, 'completed', `Completed: every stage passed its gates; the result is ${p.info.result ? `${p.info.result.stage}'s output ${p.info.result.output}` : `stage ${label}'s output ${outcome.output}`}.`);
        }
        return;
      }
      case 'held': {
        if (stage.status === 'held') return;
        stage.status = 'held';
        stage.verdict = outcome.lines;
        p.info.result = pipelineResult(p.info.stages);
        this.end(p, 'halted', haltMessage(label, outcome.lines, p.info.result, p.runs[0]!.model));
        return;
      }
      case 'failed':
        if (stage.status === 'failed' && p.info.status === 'failed') return;
        stage.status = 'failed';
        stage.verdict = [outcome.reason];
        this.end(p, 'failed', `Stage ${label} failed: ${outcome.reason.replace(/\.?$/, '.')} \`anneal resume ${p.info.id}\` retries it from its last checkpoint.`);
        return;
      case 'stopped':
      case 'interrupted':
        if (stage.status === outcome.kind && p.info.status === outcome.kind) return;
        stage.status = outcome.kind;
        this.end(p, outcome.kind, `${outcome.kind === 'stopped' ? 'Stopped' : 'Interrupted'} in stage ${label} at step ${run.step}; \`anneal resume ${p.info.id}\` continues it from its checkpoint.`);
        return;
    }
  }

  /** The run's gate report, when the engine wrote one. */
  private report(runId: string): GateReport | undefined {
    try {
      return JSON.parse(readFileSync(join(this.runs.store.dir(runId), 'gates.json'), 'utf8')) as GateReport;
    } catch {
      return undefined;
    }
  }

  private end(p: StoredPipeline, status: PipelineInfo['status'], message: string): void {
    if ((status === 'completed' || status === 'halted') && p.info.exportDir && p.info.result) message += ` ${this.exportResult(p)}`;
    p.info.status = status;
    p.info.message = message;
    p.info.endedAt = now();
    this.note(p, `${status}: ${message}`);
    this.save(p);
    if (status === 'completed' || status === 'halted') this.startExports(p);
  }

  /** The recipe's `export:` block, written from the pipeline's result in child processes. */
  private startExports(p: StoredPipeline): void {
    const records = p.info.exports;
    if (!records?.some((r) => r.status === 'pending')) return;
    const result = p.info.result;
    if (!result || this.closing) {
      for (const r of records) if (r.status === 'pending') Object.assign(r, { status: 'failed', error: result ? 'The daemon shut down before the export started.' : 'The pipeline has no result to export (no stage passed its gates).' });
      this.save(p);
      return;
    }
    const stage = p.info.stages.find((s) => s.name === result.stage);
    const hooks = {
      log: (line: string) => this.note(p, line.replace(/^\[anneal\] /, '')),
      changed: () => this.save(p),
      marker: { runId: stage?.runId ?? p.info.id, step: (stage?.runId && this.runOf(stage.runId)?.step) || 0 },
    };
    this.exports.start(p.info.id, result.output, records, hooks, (summary) => {
      p.info.message = `${p.info.message} ${summary}`;
      this.save(p);
    });
  }

  /**
   * Copies the result to the recipe's `output_dir` (atomically, never over a folder Anneal did not
   * write); one sentence saying where, or why not. A synchronous copy: a pipeline ends once, and its
   * result is usually an adapter of a few MB.
   */
  private exportResult(p: StoredPipeline): string {
    const { result, exportDir } = p.info;
    const stage = p.info.stages.find((s) => s.name === result!.stage);
    try {
      exportOutput(result!.output, exportDir!, { runId: stage?.runId ?? p.info.id, step: (stage?.runId && this.runOf(stage.runId)?.step) || 0 });
      p.info.exportedTo = exportDir;
      return `Copied to ${exportDir}.`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private outputOf(p: StoredPipeline, name: string): string | undefined {
    return p.info.stages.find((s) => s.name === name)?.output;
  }

  private currentRunId(p: StoredPipeline): string | undefined {
    return p.info.stages[p.info.current]?.runId;
  }

  private runOf(id: string): RunInfo | undefined {
    try {
      return this.runs.get(id);
    } catch {
      return undefined;
    }
  }

  /** The answer for a request on the pipeline: its current (else latest started) stage's run. */
  private answer(p: StoredPipeline): PipelineAnswer {
    const started = p.info.stages.slice(0, p.info.current + 1).map((s) => s.runId).filter((id): id is string => id !== undefined);
    const run = started.length ? this.runOf(started.at(-1)!) : undefined;
    if (!run) throw new ResponseError(DaemonErrorCodes.InvalidState, `Pipeline ${p.info.id} has no run yet (${p.info.message})`);
    return { run, pipeline: p.info };
  }

  private label(p: StoredPipeline, index: number): string {
    return `${index + 1}/${p.info.stages.length} (${p.info.stages[index]!.name})`;
  }

  private stored(id: unknown): StoredPipeline {
    const p = typeof id === 'string' ? this.pipelines.get(id) : undefined;
    if (!p) throw new ResponseError(DaemonErrorCodes.RunNotFound, `No pipeline ${String(id)}; \`anneal runs\` lists the pipelines of this daemon.`);
    return p;
  }

  /** A line of the pipeline's log (and the daemon's). */
  private note(p: StoredPipeline, line: string): void {
    this.options.log?.(`[anneal] pipeline ${p.info.id}: ${line}`);
    try {
      this.store.appendLog(p.info.id, line);
    } catch (err) {
      this.options.log?.(`[anneal] could not write pipeline ${p.info.id}'s log: ${(err as Error).message}`);
    }
  }

  private save(p: StoredPipeline): void {
    try {
      this.store.save(p);
    } catch (err) {
      this.options.log?.(`[anneal] could not write pipeline ${p.info.id}: ${(err as Error).message}`);
    }
    for (const l of this.listeners) l(p.info);
  }
}
