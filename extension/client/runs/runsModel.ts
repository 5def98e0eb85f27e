// The runs the extension knows about, kept current from the daemon: the list from `runs/list` on each
// (re)connect, then `run/status` and `run/metrics` of the runs still going (subscribed from the last
// step seen + 1, so a reconnect loses no point and repeats none), and the pipelines' records from
// `pipelines/list` and `pipelines/changed`. The Runs view and the status bar read it; nothing polls.
import * as vscode from 'vscode';
import {
  ListRuns,
  RunMetricsNotification,
  RunStatusNotification,
  RunsChangedNotification,
  Subscribe,
  Unsubscribe,
} from '../../../core/protocol/daemon.ts';
import { ListPipelines, PipelineChangedNotification, type PipelineInfo } from '../../../core/protocol/pipelines.ts';
import { isFinalStatus, type MetricRecord, type RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import type { DaemonConnection } from '../daemon/daemonConnection.ts';
import type { RunExtras } from './runItem.ts';

interface Tracked extends RunExtras {
  /** Last metrics step seen (-1 before any). */
  lastStep: number;
}

export class RunsModel implements vscode.Disposable {
  private runsValue: RunInfo[] = [];
  private pipelinesValue = new Map<string, PipelineInfo>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly subscribed = new Set<string>();
  private clientDisposables: { dispose(): void }[] = [];
  private loaded = false;
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [];

  /** Fires when the list, a run or its metrics changed. */
  readonly onDidChange = this.emitter.event;
  private readonly statusEmitter = new vscode.EventEmitter<{ run: RunInfo; previous: RunInfo['status'] | undefined }>();
  /** Fires when a streamed run changes status (for the "run failed / finished" messages). */
  readonly onDidChangeStatus = this.statusEmitter.event;
  private readonly pipelineStatusEmitter = new vscode.EventEmitter<{ pipeline: PipelineInfo; previous: PipelineInfo['status'] }>();
  /** Fires when a pipeline known to this model changes status (for the "pipeline completed / halted" messages). */
  readonly onDidChangePipelineStatus = this.pipelineStatusEmitter.event;

  constructor(
    private readonly connection: DaemonConnection,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      this.emitter,
      this.statusEmitter,
      this.pipelineStatusEmitter,
      connection.onDidConnect((client) => void this.attach(client)),
      connection.onDidChangeState(() => {
        if (connection.state !== 'connected') {
          this.subscribed.clear();
          this.emitter.fire();
        }
      }),
    );
    if (connection.client) void this.attach(connection.client);
  }

  /** Newest first, as the daemon lists them. */
  get runs(): readonly RunInfo[] {
    return this.runsValue;
  }
  /** True once a list arrived from the current daemon. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The daemon's record of a pipeline (its stages' statuses, gates, result, exports), once listed or changed. */
  pipeline(pipelineId: string): PipelineInfo | undefined {
    return this.pipelinesValue.get(pipelineId);
  }

  /** Every pipeline known, newest first. */
  get pipelines(): readonly PipelineInfo[] {
    return [...this.pipelinesValue.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  get(runId: string): RunInfo | undefined {
    return this.runsValue.find((r) => r.id === runId);
  }

  extras(runId: string): RunExtras {
    const t = this.tracked.get(runId);
    return t ? { bestEvalLoss: t.bestEvalLoss, lastLoss: t.lastLoss } : {};
  }

  /** The run the status bar shows: a running one, else a queued one, else the newest. */
  current(): RunInfo | undefined {
    return (
      this.runsValue.find((r) => r.status === 'running' || r.status === 'stopping') ??
      this.runsValue.find((r) => r.status === 'queued') ??
      this.runsValue[0]
    );
  }

  /** Asks the daemon for the list again (after a command, or the view's refresh button). */
  async refresh(): Promise<void> {
    const client = this.connection.client;
    if (!client) return;
    try {
      const [{ runs }, pipelines] = await Promise.all([
        client.connection.sendRequest(ListRuns.type, {}),
        // A daemon without pipelines/list (older) still lists runs; its pipelines read from their runs.
        client.connection.sendRequest(ListPipelines.type, {}).then(
          (r) => r.pipelines,
          (error: unknown) => {
            this.log.warn(`pipelines/list failed: ${String(error)}`);
            return undefined;
          },
        ),
      ]);
      if (this.connection.client !== client) return;
      if (pipelines) this.pipelinesValue = new Map(pipelines.map((p) => [p.id, p]));
      const before = new Map(this.runsValue.map((r) => [r.id, r.status]));
      this.runsValue = runs;
      // A daemon that restarted marks the runs it lost `interrupted`: say so like a live change.
      for (const run of runs) {
        const previous = before.get(run.id);
        if (previous !== undefined && previous !== run.status) this.statusEmitter.fire({ run, previous });
      }
      this.loaded = true;
      for (const run of runs) if (!isFinalStatus(run.status)) void this.watch(run.id);
      this.emitter.fire();
    } catch (error) {
      this.log.warn(`runs/list failed: ${String(error)}`);
    }
  }

  /** Streams a run's status and metrics to this model (no-op when already streaming). */
  async watch(runId: string): Promise<void> {
    const client = this.connection.client;
    if (!client || this.subscribed.has(runId)) return;
    this.subscribed.add(runId);
    const fromStep = (this.tracked.get(runId)?.lastStep ?? -1) + 1;
    try {
      const { run } = await client.connection.sendRequest(Subscribe.type, { runId, fromStep });
      this.upsert(run);
    } catch (error) {
      this.subscribed.delete(runId);
      this.log.warn(`runs/subscribe ${runId} failed: ${String(error)}`);
    }
  }

  /** Puts a run record into the list (new runs first). */
  upsert(run: RunInfo): void {
    const i = this.runsValue.findIndex((r) => r.id === run.id);
    if (i >= 0) this.runsValue = [...this.runsValue.slice(0, i), run, ...this.runsValue.slice(i + 1)];
    else this.runsValue = [run, ...this.runsValue];
    this.emitter.fire();
  }

  /** Removes a deleted run. */
  remove(runId: string): void {
    this.runsValue = this.runsValue.filter((r) => r.id !== runId);
    this.tracked.delete(runId);
    this.subscribed.delete(runId);
    this.emitter.fire();
  }

  private async attach(client: DaemonClient): Promise<void> {
    for (const d of this.clientDisposables.splice(0)) d.dispose();
    this.subscribed.clear();
    this.clientDisposables.push(
      client.on(RunStatusNotification.type, ({ run }) => {
        const previous = this.get(run.id)?.status;
        this.upsert(run);
        if (previous !== run.status) this.statusEmitter.fire({ run, previous });
        if (isFinalStatus(run.status) && this.subscribed.delete(run.id)) {
          void client.connection.sendRequest(Unsubscribe.type, { runId: run.id }).catch(() => undefined);
        }
      }),
      client.on(RunMetricsNotification.type, ({ runId, record }) => this.onMetrics(runId, record)),
      client.on(PipelineChangedNotification.type, ({ pipeline }) => {
        const previous = this.pipelinesValue.get(pipeline.id)?.status;
        this.pipelinesValue.set(pipeline.id, pipeline);
        this.emitter.fire();
        if (previous !== undefined && previous !== pipeline.status) this.pipelineStatusEmitter.fire({ pipeline, previous });
      }),
      // Runs started or deleted by another client (the CLI, a browser) show up without a refresh.
      client.on(RunsChangedNotification.type, ({ run, deleted }) => {
        if (deleted !== undefined) return this.remove(deleted);
        if (!run) return;
        const previous = this.get(run.id)?.status;
        this.upsert(run);
        if (previous !== undefined && previous !== run.status) this.statusEmitter.fire({ run, previous });
        if (!isFinalStatus(run.status)) void this.watch(run.id);
      }),
    );
    // The daemon may have restarted: what it lists now replaces what we had (a run that was
    // running when it died comes back `interrupted`).
    await this.refresh();
  }

  private onMetrics(runId: string, record: MetricRecord): void {
    let t = this.tracked.get(runId);
    if (!t) this.tracked.set(runId, (t = { lastStep: -1 }));
    if (record.step < t.lastStep) return;
    t.lastStep = record.step;
    if (typeof record.loss === 'number') t.lastLoss = record.loss;
    const evalLoss = record['eval/loss'];
    if (typeof evalLoss === 'number' && (t.bestEvalLoss === undefined || evalLoss < t.bestEvalLoss)) t.bestEvalLoss = evalLoss;
    const run = this.get(runId);
    if (run && record.step > run.step) this.upsert({ ...run, step: record.step });
    else this.emitter.fire();
  }

  dispose(): void {
    for (const d of this.clientDisposables.splice(0)) d.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
