// "Anneal: Open Pipeline Report": one page per pipeline with its result and exports at the top, then
// each stage: status, gate report lines, key metrics at start and end, and each sample prompt's
// answer before and after the stage (pipelineReportData.ts). The host reads the pipeline and each
// stage's history over its own short-lived socket (a subscribe that replays, then unsubscribe), so
// the extension's shared connection and its subscriptions are left alone. Re-read when it changes.
import * as vscode from 'vscode';
import { GetRun, RunMetricsNotification, RunSampleNotification, Subscribe, Unsubscribe } from '../../../core/protocol/daemon.ts';
import type { StageReport } from '../../../core/protocol/compareView.ts';
import { GetPipeline, ListPipelines, PipelineChangedNotification, type PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { MetricRecord, SampleRecord } from '../../../core/protocol/runs.ts';
import { connectDaemon, type DaemonClient } from '../../../daemon/client/connect.ts';
import type { Services } from '../services.ts';
import { COMPARE_MODELS_COMMAND } from './comparePanel.ts';
import { PanelHost, registerPanelSerializer } from './panelHost.ts';
import { stageReport } from './pipelineReportData.ts';

export const OPEN_PIPELINE_REPORT_COMMAND = 'anneal.openPipelineReport';
/** Quiet time after a pipeline change before the report is read again. */
const REFRESH_DELAY_MS = 500;

/** "Pipeline Report 20261130-035115-6abf": the id without its redundant prefix. */
function reportTitle(pipelineId: string): string {
  return `Pipeline Report ${pipelineId.replace(/^pipeline-/, '')}`;
}

function sentence(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A stage run's metrics and samples as the daemon replays them (all sent before the subscribe answer). */
async function history(client: DaemonClient, runId: string): Promise<{ metrics: MetricRecord[]; samples: SampleRecord[] }> {
  const metrics: MetricRecord[] = [];
  const samples: SampleRecord[] = [];
  const listeners = [
    client.on(RunMetricsNotification.type, (p) => p.runId === runId && metrics.push(p.record)),
    client.on(RunSampleNotification.type, (p) => p.runId === runId && samples.push(p.record)),
  ];
  try {
    await client.connection.sendRequest(Subscribe.type, { runId, fromStep: 0 });
    await client.connection.sendRequest(Unsubscribe.type, { runId }).catch(() => undefined);
  } finally {
    for (const l of listeners) l.dispose();
  }
  return { metrics, samples };
}

export class PipelineReportPanel {
  private static readonly open = new Map<string, PipelineReportPanel>();
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  static show(services: Services, pipelineId: string): PipelineReportPanel {
    const existing = PipelineReportPanel.open.get(pipelineId);
    if (existing && !existing.host.disposed) {
      existing.host.reveal();
      void existing.load();
      return existing;
    }
    const host = PanelHost.open(services.context, { kind: 'pipelineReport', title: reportTitle(pipelineId), state: { kind: 'pipelineReport', pipelineId }, retainContextWhenHidden: true });
    return new PipelineReportPanel(host, services, pipelineId);
  }

  static registerSerializer(services: Services): vscode.Disposable {
    return registerPanelSerializer('pipelineReport', (panel, state) => {
      if (!state?.pipelineId) return panel.dispose();
      const host = PanelHost.adopt(services.context, panel, { kind: 'pipelineReport', title: reportTitle(state.pipelineId), state: { kind: 'pipelineReport', pipelineId: state.pipelineId }, retainContextWhenHidden: true });
      new PipelineReportPanel(host, services, state.pipelineId);
    });
  }

  private constructor(
    private readonly host: PanelHost,
    private readonly services: Services,
    private readonly pipelineId: string,
  ) {
    PipelineReportPanel.open.get(pipelineId)?.host.dispose();
    PipelineReportPanel.open.set(pipelineId, this);
    host.track(
      host.onReady(() => void this.load()),
      host.onMessage((message) => void this.receive(message)),
      services.connection.onDidConnect((client) => this.watch(client)),
      { dispose: () => this.timer && clearTimeout(this.timer) },
      host.onDidDispose(() => {
        if (PipelineReportPanel.open.get(pipelineId) === this) PipelineReportPanel.open.delete(pipelineId);
      }),
    );
    if (services.connection.client) this.watch(services.connection.client);
  }

  /** Reads the report again when this pipeline changes (a stage starts, hands over, exports). */
  private watch(client: DaemonClient): void {
    this.host.track(
      client.on(PipelineChangedNotification.type, ({ pipeline }) => {
        if (pipeline.id !== this.pipelineId) return;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.load(), REFRESH_DELAY_MS);
      }),
    );
  }

  private load(): Promise<void> {
    this.loading ??= this.read().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async read(): Promise<void> {
    let client: DaemonClient | undefined;
    try {
      await this.services.connection.ensure(!this.services.connection.remote);
      const endpoint = this.services.connection.endpoint;
      if (!endpoint) throw new Error('the daemon is not running; run "Anneal: Start Daemon".');
      client = await connectDaemon(endpoint.url, endpoint.token, { clientName: 'anneal-vscode-pipeline-report', timeoutMs: 5000 });
      const { pipeline, log } = await client.connection.sendRequest(GetPipeline.type, { pipelineId: this.pipelineId, log: true });
      const stages: StageReport[] = [];
      for (const [index, stage] of pipeline.stages.entries()) {
        if (!stage.runId) {
          stages.push(stageReport(stage, index));
          continue;
        }
        try {
          const { run } = await client.connection.sendRequest(GetRun.type, { runId: stage.runId });
          stages.push(stageReport(stage, index, run, await history(client, stage.runId)));
        } catch (error) {
          stages.push(stageReport(stage, index, undefined, undefined, `The history of run ${stage.runId} could not be read: ${sentence(error)}`));
        }
      }
      this.host.post({ type: 'pipelineReport/data', pipeline, stages, log: log ?? [] });
    } catch (error) {
      this.host.post({ type: 'pipelineReport/error', message: `The report of pipeline ${this.pipelineId} could not be read: ${sentence(error)}` });
    } finally {
      client?.close();
    }
  }

  private async receive(message: unknown): Promise<void> {
    const m = message as { type: string; runId?: string; path?: string };
    if (m.type === 'pipelineReport/refresh') return this.load();
    if (m.type === 'pipelineReport/openRun' && m.runId) return void vscode.commands.executeCommand('anneal.openDashboard', m.runId);
    if (m.type === 'pipelineReport/compare' && m.runId) return void vscode.commands.executeCommand(COMPARE_MODELS_COMMAND, m.runId);
    if (m.type === 'pipelineReport/reveal' && m.path) return void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(m.path));
  }
}

/** The pipeline asked for: a tree item's `pipelineId`, an id, else the user picks one (newest first). */
async function pickPipeline(services: Services, arg: unknown): Promise<string | undefined> {
  const given = typeof arg === 'string' ? arg : (arg as { pipelineId?: unknown } | undefined)?.pipelineId;
  if (typeof given === 'string') return given;
  let pipelines: PipelineInfo[];
  try {
    const client = await services.connection.ensure(!services.connection.remote);
    pipelines = (await client.connection.sendRequest(ListPipelines.type, {})).pipelines;
  } catch (error) {
    void vscode.window.showErrorMessage(`Anneal: cannot list pipelines without the daemon: ${sentence(error)}`);
    return undefined;
  }
  if (pipelines.length === 0) {
    void vscode.window.showInformationMessage('Anneal: no pipeline yet; train a recipe with `stages:` (e.g. examples/pipeline.anneal.yaml) first.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    pipelines.map((p) => ({ label: p.stages.map((s) => s.name).join(' → '), description: `${p.id} · ${p.status}`, detail: p.message, id: p.id })),
    { title: 'Anneal: open the report of which pipeline?', matchOnDescription: true },
  );
  return picked?.id;
}

export function registerPipelineReportCommand(services: Services): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(OPEN_PIPELINE_REPORT_COMMAND, async (arg?: unknown) => {
      const id = await pickPipeline(services, arg);
      if (id) PipelineReportPanel.show(services, id);
    }),
    PipelineReportPanel.registerSerializer(services),
  );
}
