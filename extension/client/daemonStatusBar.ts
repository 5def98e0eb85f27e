// The daemon status bar item: connection state, backend, and the current run's step and loss.
// Clicking opens the dashboard (or, when the daemon is down, the daemon actions).
import * as vscode from 'vscode';
import type { DaemonConnection } from './daemon/daemonConnection.ts';
import type { RunsModel } from './runs/runsModel.ts';
import { daemonStatusText } from './statusText.ts';

export const OPEN_DASHBOARD_COMMAND = 'anneal.openDashboard';
export const DAEMON_ACTIONS_COMMAND = 'anneal.daemonActions';

export class DaemonStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly connection: DaemonConnection,
    private readonly runs: RunsModel,
  ) {
    this.item = vscode.window.createStatusBarItem('anneal.daemon', vscode.StatusBarAlignment.Left, 9);
    this.item.name = 'Anneal daemon';
    this.disposables.push(
      this.item,
      connection.onDidChangeState(() => this.update()),
      runs.onDidChange(() => this.update()),
    );
    this.update();
    this.item.show();
  }

  private update(): void {
    const run = this.runs.current();
    const { text, tooltip } = daemonStatusText({
      state: this.connection.state,
      remote: this.connection.remote,
      backend: run?.backend ?? this.connection.info?.backend,
      run,
      loss: run ? this.runs.extras(run.id).lastLoss : undefined,
      reason: this.connection.reason,
    });
    this.item.text = text;
    this.item.tooltip = tooltip.join('\n');
    const down = this.connection.state === 'failed';
    this.item.backgroundColor = down ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.command = this.connection.state === 'connected' && run ? OPEN_DASHBOARD_COMMAND : DAEMON_ACTIONS_COMMAND;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
