// What the daemon-side commands, views and panels share; built once in activate().
import type * as vscode from 'vscode';
import type { DaemonConnection } from './daemon/daemonConnection.ts';
import type { RunsModel } from './runs/runsModel.ts';

export interface Services {
  context: vscode.ExtensionContext;
  connection: DaemonConnection;
  runs: RunsModel;
  /** The "Anneal Daemon" output: connection events and failures (the daemon's own log is daemon.log). */
  log: vscode.LogOutputChannel;
  /** Problems the daemon found when it refused a run (InvalidInput), shown in the Problems panel. */
  trainingProblems: vscode.DiagnosticCollection;
}
