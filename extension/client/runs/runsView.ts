// The Runs view (its own activity-bar container): the tree of runsTree.ts over the RunsModel (runs,
// pipelines with their stages, gates, result and exports), with inline and context actions declared in
// package.json (`viewItem =~ /can-stop/` ...).
import * as vscode from 'vscode';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonConnection } from '../daemon/daemonConnection.ts';
import type { RunsModel } from './runsModel.ts';
import { childNodes, describeNode, rootNodes, type Collapsible, type RunsNode, type RunsSource } from './runsTree.ts';

export const RUNS_VIEW_ID = 'anneal.runs';

const markdownLines = (lines: string[]) => new vscode.MarkdownString(lines.map((l) => l.replace(/[\\`*_[\]<>]/g, '\\$&')).join('  \n'));

const COLLAPSIBLE: Record<Collapsible, vscode.TreeItemCollapsibleState> = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
};

/**
 * A node of the tree (a run, a pipeline, a stage, a gate line, a result, an export). Commands invoked
 * from the view get it as their argument: `run` is the run it stands for (a run, a stage that started,
 * a pipeline's result), `pipeline` the pipeline record, `exportRecord` an export of the recipe.
 */
export class RunsTreeItem extends vscode.TreeItem {
  readonly run?: RunInfo;
  readonly pipeline?: PipelineInfo;
  readonly exportRecord?: RecipeExportRecord;

  constructor(readonly node: RunsNode, source: RunsSource) {
    const model = describeNode(node, source, new Date());
    super(model.label, COLLAPSIBLE[model.collapsible]);
    this.id = node.id;
    this.description = model.description;
    this.tooltip = markdownLines(model.tooltip);
    this.iconPath = new vscode.ThemeIcon(model.icon.id, model.icon.color ? new vscode.ThemeColor(model.icon.color) : undefined);
    this.contextValue = model.contextValue;
    if (node.kind === 'run' || node.kind === 'stage' || node.kind === 'result') this.run = node.run;
    if (node.kind === 'pipeline') this.pipeline = node.info;
    if (node.kind === 'stage' || node.kind === 'result' || node.kind === 'halt') this.pipeline = node.info;
    if (node.kind === 'export') this.exportRecord = node.record;
    if (model.openRunId) this.command = { title: 'Open Dashboard', command: 'anneal.openDashboard', arguments: [model.openRunId] };
  }
}

class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeItem> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly source: RunsSource;

  constructor(runs: RunsModel) {
    this.source = {
      get runs() {
        return runs.runs;
      },
      pipeline: (id) => runs.pipeline(id),
      extras: (id) => runs.extras(id),
    };
  }

  refresh(): void {
    this.emitter.fire();
  }

  getTreeItem(item: RunsTreeItem): vscode.TreeItem {
    return item;
  }

  getChildren(parent?: RunsTreeItem): RunsTreeItem[] {
    const nodes = parent ? childNodes(parent.node, this.source) : rootNodes(this.source);
    return nodes.map((n) => new RunsTreeItem(n, this.source));
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
