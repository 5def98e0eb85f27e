// The Runs view (its own activity-bar container): one item per run from the RunsModel, with inline
// and context actions declared in package.json (`viewItem =~ /can-stop/` ...).
import * as vscode from 'vscode';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonConnection } from '../daemon/daemonConnection.ts';
import { describeRun } from './runItem.ts';
import { describePipeline, groupRuns } from './runGroups.ts';
import type { RunsModel } from './runsModel.ts';

export const RUNS_VIEW_ID = 'anneal.runs';

/** A run in the tree; commands invoked from the view get this as their argument. */
export class RunTreeItem extends vscode.TreeItem {
  constructor(readonly run: RunInfo, runs: RunsModel) {
    const model = describeRun(run, runs.extras(run.id), new Date());
    super(model.label, vscode.TreeItemCollapsibleState.None);
    this.id = run.id;
    this.description = model.description;
    this.tooltip = new vscode.MarkdownString(model.tooltip.map((l) => l.replace(/[\\`*_[\]<>]/g, '\\$&')).join('  \n'));
    this.iconPath = new vscode.ThemeIcon(model.icon.id, model.icon.color ? new vscode.ThemeColor(model.icon.color) : undefined);
    this.contextValue = model.contextValue;
    this.command = { title: 'Open Dashboard', command: 'anneal.openDashboard', arguments: [this] };
  }
}

/** A pipeline in the tree: its stages' runs are its children, in stage order. */
export class PipelineTreeItem extends vscode.TreeItem {
  constructor(readonly pipelineId: string, readonly runs: RunInfo[]) {
    const model = describePipeline(pipelineId, runs, new Date());
    super(model.label, vscode.TreeItemCollapsibleState.Expanded);
    this.id = `pipeline:${pipelineId}`;
    this.description = model.description;
    this.tooltip = new vscode.MarkdownString(model.tooltip.map((l) => l.replace(/[\\`*_[\]<>]/g, '\\$&')).join('  \n'));
    this.iconPath = new vscode.ThemeIcon(model.icon.id, model.icon.color ? new vscode.ThemeColor(model.icon.color) : undefined);
    this.contextValue = model.contextValue;
  }
}

type RunsTreeNode = RunTreeItem | PipelineTreeItem;

class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeNode> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;

  constructor(private readonly runs: RunsModel) {}

  refresh(): void {
    this.emitter.fire();
  }

  getTreeItem(item: RunsTreeNode): vscode.TreeItem {
    return item;
  }

  getChildren(parent?: RunsTreeNode): RunsTreeNode[] {
    if (parent instanceof PipelineTreeItem) return parent.runs.map((run) => new RunTreeItem(run, this.runs));
    if (parent) return [];
    return groupRuns(this.runs.runs).map((e) => (e.kind === 'run' ? new RunTreeItem(e.run, this.runs) : new PipelineTreeItem(e.id, e.runs)));
  }
}

/** Creates the view; its message says why it is empty (no daemon, no runs). */
export function createRunsView(runs: RunsModel, connection: DaemonConnection): vscode.Disposable {
  const provider = new RunsTreeProvider(runs);
  const view = vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: provider, showCollapseAll: false });
  const update = () => {
    provider.refresh();
    if (connection.state !== 'connected') {
      view.message =
        connection.state === 'off'
          ? 'The Anneal daemon is not running. Train a dataset, or run "Anneal: Start Daemon", to see runs.'
          : connection.state === 'failed'
            ? (connection.reason ?? 'Cannot reach the Anneal daemon.')
            : connection.state === 'reconnecting'
              ? `Reconnecting to the daemon… ${connection.reason ?? ''}`.trim()
              : 'Connecting to the daemon…';
    } else {
      view.message = runs.isLoaded && runs.runs.length === 0 ? 'No runs yet: open a dataset and run "Anneal: Train SFT".' : undefined;
    }
    const active = runs.runs.filter((r) => r.status === 'running' || r.status === 'queued' || r.status === 'stopping').length;
    view.badge = active > 0 ? { value: active, tooltip: `${active} run${active === 1 ? '' : 's'} in progress` } : undefined;
  };
  update();
  return vscode.Disposable.from(
    view,
    runs.onDidChange(update),
    connection.onDidChangeState(update),
    // Another client (the CLI) may have started runs while the view was hidden.
    view.onDidChangeVisibility((e) => {
      if (e.visible) void runs.refresh();
    }),
  );
}
