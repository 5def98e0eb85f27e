// Everything that talks to the training daemon, set up at activation: the connection, the runs model,
// status bar, Runs view, CodeLens, commands, panel serializers and context keys.
import * as vscode from 'vscode';
import { AnnealCodeLens } from './codeLens.ts';
import { DaemonConnection } from './daemon/daemonConnection.ts';
import { registerDaemonCommands } from './daemon/daemonCommands.ts';
import { DaemonStatusBar } from './daemonStatusBar.ts';
import { registerDatasetCommands } from './datasetCommands.ts';
import { registerExportCommands } from './export/exportCommand.ts';
import { registerScorePairsCommand } from './pairs/scoreCommand.ts';
import { DashboardPanel } from './panels/dashboardPanel.ts';
import { SamplesPanel } from './panels/samplesPanel.ts';
import { registerRunCommands, registerRunNotices } from './runs/runCommands.ts';
import { registerCompareCommand } from './panels/comparePanel.ts';
import { registerPipelineReportCommand } from './panels/pipelineReportPanel.ts';
import { RunsModel } from './runs/runsModel.ts';
import { createRunsView } from './runs/runsView.ts';
import type { Services } from './services.ts';
import { trackStageContext } from './stageContext.ts';
import { registerTrainCommands } from './train/trainCommands.ts';

/** Sets up the daemon side of the extension; everything is disposed with the extension. */
export function activateDaemonFeatures(context: vscode.ExtensionContext): Services {
  const log = vscode.window.createOutputChannel('Anneal Daemon', { log: true });
  const connection = new DaemonConnection(context, log);
  const runs = new RunsModel(connection, log);
  const trainingProblems = vscode.languages.createDiagnosticCollection('anneal-training');
  const services: Services = { context, connection, runs, log, trainingProblems };
  const deps = { context, connection, log };
  context.subscriptions.push(
    log,
    connection,
    runs,
    trainingProblems,
    new DaemonStatusBar(connection, runs),
    createRunsView(runs, connection),
    trackStageContext(connection),
    registerRunNotices(services),
    ...registerTrainCommands(services),
    ...registerRunCommands(services),
    ...registerExportCommands(services),
    ...registerDaemonCommands(services),
    ...registerDatasetCommands(context),
    registerScorePairsCommand(services),
    DashboardPanel.registerSerializer(deps),
    SamplesPanel.registerSerializer(deps),
    registerCompareCommand(services),
    registerPipelineReportCommand(services),
    vscode.languages.registerCodeLensProvider(
      [{ scheme: 'file', pattern: '**/*.jsonl' }, { scheme: 'file', pattern: '**/*.anneal.{yaml,yml,json}' }],
      new AnnealCodeLens(connection),
    ),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('anneal.daemon.stateDir') || e.affectsConfiguration('anneal.daemon.url')) void connection.reset();
    }),
  );
  // Join a daemon that already runs; none is started until training needs one.
  void connection.attach();
  return services;
}
