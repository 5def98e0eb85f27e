// The Runs view's tree as plain data: which nodes sit at the top (single runs, pipelines), what each
// node's children are (a pipeline's verdict, stages, result and exports; a stage's gate lines; a run's
// exports), and how each node reads. Pure (no vscode import): runsView.ts makes TreeItems of these,
// and the unit tests build the tree from PipelineInfo/RunInfo records as the daemon sends them.
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { describePipeline, groupRuns } from './runGroups.ts';
import { describeRun, type RunExtras, type RunItemModel } from './runItem.ts';
import { describeExport, describeGateLine, describeHalt, describePipelineInfo, describeResult, describeStage, stageLines } from './pipelineItems.ts';

export type RunsNode =
  | { kind: 'run'; id: string; run: RunInfo }
  /** `info` is absent while the daemon's record of the pipeline is not known (an older daemon): then its children are its runs. */
  | { kind: 'pipeline'; id: string; pipelineId: string; runs: RunInfo[]; info?: PipelineInfo }
  | { kind: 'stage'; id: string; info: PipelineInfo; index: number; run?: RunInfo }
  | { kind: 'halt'; id: string; info: PipelineInfo }
  | { kind: 'gate'; id: string; line: string }
  | { kind: 'result'; id: string; info: PipelineInfo; run?: RunInfo }
  | { kind: 'export'; id: string; record: RecipeExportRecord };

export type Collapsible = 'none' | 'collapsed' | 'expanded';

export interface RunsNodeModel extends RunItemModel {
  collapsible: Collapsible;
  /** The run a click opens the dashboard of. */
  openRunId?: string;
}

/** What the tree reads from the RunsModel. */
export interface RunsSource {
  runs: readonly RunInfo[];
  pipeline(id: string): PipelineInfo | undefined;
  extras(runId: string): RunExtras;
}

/** The top level: single runs and pipelines, newest first (a pipeline where its newest run sits). */
export function rootNodes(source: RunsSource): RunsNode[] {
  return groupRuns(source.runs).map((e) =>
    e.kind === 'run'
      ? { kind: 'run', id: e.run.id, run: e.run }
      : { kind: 'pipeline', id: `pipeline:${e.id}`, pipelineId: e.id, runs: e.runs, ...(source.pipeline(e.id) ? { info: source.pipeline(e.id)! } : {}) },
  );
}

const exportNodes = (owner: string, records: readonly RecipeExportRecord[] | undefined): RunsNode[] =>
  (records ?? []).map((record, i) => ({ kind: 'export', id: `${owner}/export:${i}`, record }));

/** A node's children, in the order they are shown. */
export function childNodes(node: RunsNode, source: RunsSource): RunsNode[] {
  switch (node.kind) {
    case 'run':
      return exportNodes(node.id, node.run.exports);
    case 'pipeline': {
      const info = node.info;
      if (!info) return node.runs.map((run) => ({ kind: 'run', id: run.id, run }));
      const byId = new Map(node.runs.map((r) => [r.id, r]));
      const runOf = (runId: string | undefined) => (runId ? (byId.get(runId) ?? source.runs.find((r) => r.id === runId)) : undefined);
      const out: RunsNode[] = [];
      if (describeHalt(info)) out.push({ kind: 'halt', id: `${node.id}/halt`, info });
      info.stages.forEach((s, index) => {
        const run = runOf(s.runId);
        // VS Code keeps the collapse state of an id it has seen: a stage first shown without gate lines
        // would stay folded when they arrive, so it takes a new id once it has them (and shows them).
        const id = `${node.id}/stage:${index}${stageLines(s).length > 0 ? '/decided' : ''}`;
        out.push({ kind: 'stage', id, info, index, ...(run ? { run } : {}) });
      });
      if (info.result) {
        const run = runOf(info.stages.find((s) => s.name === info.result!.stage)?.runId);
        out.push({ kind: 'result', id: `${node.id}/result`, info, ...(run ? { run } : {}) });
      }
      out.push(...exportNodes(node.id, info.exports));
      return out;
    }
    case 'stage':
      return stageLines(node.info.stages[node.index]!).map((line, i) => ({ kind: 'gate', id: `${node.id}/gate:${i}`, line }));
    default:
      return [];
  }
}

/** How a node reads: label, description, tooltip, icon, menus, and whether it opens. */
export function describeNode(node: RunsNode, source: RunsSource, now: Date): RunsNodeModel {
  const hasChildren = childNodes(node, source).length > 0;
  switch (node.kind) {
    case 'run': {
      const m = describeRun(node.run, source.extras(node.run.id), now);
      return { ...m, collapsible: hasChildren ? 'expanded' : 'none', openRunId: node.run.id };
    }
    case 'pipeline': {
      const m = node.info ? describePipelineInfo(node.info, node.runs, now) : describePipeline(node.pipelineId, node.runs, now);
      return { ...m, collapsible: 'expanded' };
    }
    case 'stage': {
      const m = describeStage(node.info, node.index, node.run, node.run ? source.extras(node.run.id) : {}, now);
      return { ...m, collapsible: hasChildren ? 'expanded' : 'none', ...(node.run ? { openRunId: node.run.id } : {}) };
    }
    case 'halt':
      return { ...describeHalt(node.info)!, collapsible: 'none' };
    case 'gate':
      return { ...describeGateLine(node.line), collapsible: 'none' };
    case 'result':
      return { ...describeResult(node.info)!, collapsible: 'none', ...(node.run ? { openRunId: node.run.id } : {}) };
    case 'export':
      return { ...describeExport(node.record), collapsible: 'none' };
  }
}

/** The whole tree as indented text lines ("label — description"): for tests and logs. */
export function renderTree(source: RunsSource, now: Date): string[] {
  const lines: string[] = [];
  const walk = (nodes: RunsNode[], depth: number) => {
    for (const n of nodes) {
      const m = describeNode(n, source, now);
      lines.push(`${'  '.repeat(depth)}[${m.icon.id}] ${m.label}${m.description ? ` — ${m.description}` : ''}`);
      walk(childNodes(n, source), depth + 1);
    }
  };
  walk(rootNodes(source), 0);
  return lines;
}
