// How a pipeline appears in the Runs view when the daemon's record of it (PipelineInfo) is known: the
// pipeline's state, each stage's status, the gate lines that decided each handover, why it halted, its
// result and its exports. Pure (no vscode import): the tree provider turns these into TreeItems.
import type { PipelineInfo, PipelineStageInfo, PipelineStageStatus, PipelineStatus } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { formatStep } from '../statusText.ts';
import { describeRun, relativeTime, type RunExtras, type RunItemModel } from './runItem.ts';

type Icon = RunItemModel['icon'];

const PIPELINE_ICONS: Record<PipelineStatus, Icon> = {
  running: { id: 'sync~spin', color: 'charts.blue' },
  completed: { id: 'pass-filled', color: 'testing.iconPassed' },
  halted: { id: 'circle-slash', color: 'list.warningForeground' },
  failed: { id: 'error', color: 'errorForeground' },
  stopped: { id: 'debug-stop' },
  interrupted: { id: 'warning', color: 'list.warningForeground' },
};

const STAGE_ICONS: Record<PipelineStageStatus, Icon> = {
  pending: { id: 'circle-outline', color: 'disabledForeground' },
  merging: { id: 'git-merge', color: 'charts.blue' },
  running: { id: 'sync~spin', color: 'charts.blue' },
  passed: { id: 'pass', color: 'testing.iconPassed' },
  held: { id: 'circle-slash', color: 'list.warningForeground' },
  failed: { id: 'error', color: 'errorForeground' },
  stopped: { id: 'debug-stop' },
  interrupted: { id: 'warning', color: 'list.warningForeground' },
};

/** The stage (by name) whose output is the pipeline's result, or where it stopped. */
function stageAt(info: PipelineInfo): PipelineStageInfo | undefined {
  return info.stages[Math.min(Math.max(info.current, 0), info.stages.length - 1)];
}

/** A stage as the pipeline names it: "dpo", "2. dpo". */
const stageTitle = (s: PipelineStageInfo, index: number) => `${index + 1}. ${s.name}`;

/** The pipeline's entry: its stages' chain, where it stands, and in the tooltip its message and every stage's gates. */
export function describePipelineInfo(info: PipelineInfo, runs: readonly RunInfo[], now: Date): RunItemModel {
  const passed = info.stages.filter((s) => s.status === 'passed').length;
  const at = stageAt(info);
  const where =
    info.status === 'completed'
      ? `completed · ${passed}/${info.stages.length} passed`
      : info.status === 'running'
        ? `stage ${info.current + 1}/${info.stages.length}${at ? ` ${at.name}` : ''} ${at?.status === 'merging' ? 'merging' : 'running'}`
        : `${info.status}${at ? ` at ${at.name}` : ''}`;
  const exports = info.exports ?? [];
  const exportWord = exports.some((e) => e.status === 'running' || e.status === 'pending') && info.status !== 'running'
    ? 'exporting…'
    : exports.some((e) => e.status === 'failed')
      ? 'export failed'
      : undefined;
  const flags = ['anneal-pipeline', `pipeline-status-${info.status}`];
  if (info.result) flags.push('can-export', 'has-result');
  return {
    label: `Pipeline · ${info.stages.map((s) => s.name).join(' → ')}`,
    description: [where, exportWord, relativeTime(runs[0]?.startedAt ?? info.createdAt, now)].filter(Boolean).join(' · '),
    tooltip: [
      `Pipeline ${info.id}: ${info.status}`,
      `Recipe ${info.recipe}`,
      info.message,
      ...info.stages.flatMap((s, i) => [
        `${stageTitle(s, i)} (${s.stage}): ${s.status}`,
        ...(s.gates ?? []).map((g) => `· ${g}`),
        ...(s.status === 'held' || s.status === 'failed' ? (s.verdict ?? []).filter((v) => !(s.gates ?? []).includes(v)).map((v) => `· ${v}`) : []),
      ]),
      info.result ? `Result: ${info.result.stage}'s output ${info.result.output}` : info.status === 'running' ? undefined : 'No result: no stage passed its gates.',
      ...exports.map((e) => `Export ${exportTitle(e)}: ${e.status}${e.status === 'failed' && e.error ? ` (${e.error})` : ''}${e.status === 'done' ? ` → ${e.out}` : ''}`),
    ].filter((s): s is string => Boolean(s)),
    icon: PIPELINE_ICONS[info.status] ?? { id: 'circle-outline' },
    contextValue: flags.join(' '),
  };
}

/** One line of why a halted or failed pipeline stopped, with the numbers; undefined while it goes on or when it completed. */
export function describeHalt(info: PipelineInfo): RunItemModel | undefined {
  if (info.status !== 'halted' && info.status !== 'failed') return undefined;
  const at = info.stages.find((s) => s.status === 'held' || s.status === 'failed') ?? stageAt(info);
  const why = at?.verdict?.length ? at.verdict.join('; ') : undefined;
  const halted = info.status === 'halted';
  return {
    label: halted ? `Held at ${at?.name ?? 'a stage'}: ${why ?? 'its gates did not pass'}` : `Failed at ${at?.name ?? 'a stage'}: ${why ?? info.message}`,
    description: info.result ? `result: ${info.result.stage}` : 'no result',
    tooltip: [info.message],
    icon: halted ? { id: 'warning', color: 'list.warningForeground' } : { id: 'error', color: 'errorForeground' },
    contextValue: 'anneal-pipeline-verdict',
  };
}

/**
 * A stage of the pipeline: its run's label ("2. DPO · shout-pairs.jsonl") once it has one, its status
 * in the pipeline (passed, held...) with the run's steps, and the run's menus (dashboard, export).
 */
export function describeStage(info: PipelineInfo, index: number, run: RunInfo | undefined, extras: RunExtras, now: Date): RunItemModel {
  const stage = info.stages[index]!;
  const base = run ? describeRun(run, extras, now) : undefined;
  const status = stage.status === 'running' && run?.status === 'queued' ? 'queued' : stage.status;
  const isResult = info.result?.stage === stage.name;
  const flags = base ? [base.contextValue, 'anneal-stage'] : ['anneal-stage'];
  return {
    label: base?.label ?? `${index + 1}. ${stage.stage.toUpperCase()}${stage.name !== stage.stage ? ` (${stage.name})` : ''}`,
    description: [
      status,
      run && (run.step > 0 || run.totalSteps) ? formatStep(run.step, run.totalSteps) : undefined,
      isResult ? 'result' : undefined,
    ].filter(Boolean).join(' · '),
    tooltip: [
      `Stage ${stageTitle(stage, index)} (${stage.stage}): ${stage.status}`,
      stage.from.kind === 'stage' ? `Starts from ${stage.from.name}'s output${stage.merge ? ' (its adapter merged into the base first)' : ''}` : 'Starts from the recipe\'s model',
      ...(stage.gates ?? []),
      ...(stage.verdict ?? []).filter((v) => !(stage.gates ?? []).includes(v)),
      stage.output ? `Output ${stage.output}` : undefined,
      ...(base ? ['', ...base.tooltip] : []),
    ].filter((s): s is string => s !== undefined),
    icon: STAGE_ICONS[status as PipelineStageStatus] ?? (status === 'queued' ? { id: 'clock' } : { id: 'circle-outline' }),
    contextValue: flags.join(' '),
  };
}

/** The lines under a stage: its gate report, else (a run that failed, a rollback) the verdict. */
export function stageLines(stage: PipelineStageInfo): string[] {
  if (stage.gates?.length) {
    const extra = stage.status === 'held' || stage.status === 'failed' ? (stage.verdict ?? []).filter((v) => !stage.gates!.some((g) => g.endsWith(v) || v.endsWith(g))) : [];
    return [...stage.gates, ...extra];
  }
  return stage.status === 'held' || stage.status === 'failed' ? (stage.verdict ?? []) : [];
}

export type GateOutcome = 'pass' | 'fail' | 'advice' | 'rollback' | 'not-measured' | 'note';

/** What a gate line says: "exit loss 1.97 vs < 2.5: pass" (core/gates/evaluate.ts writes them). */
export function gateOutcome(line: string): GateOutcome {
  const verdict = /:\s(pass|fail|not measured|roll back|clear)\b/.exec(line)?.[1];
  const advice = /\(advice\)|^advice\b/.test(line);
  if (verdict === 'pass' || verdict === 'clear') return 'pass';
  if (verdict === 'fail') return advice ? 'advice' : 'fail';
  if (verdict === 'roll back' || /^rollback\b/.test(line) || /^(Rolled back|Training broke down)/.test(line)) return 'rollback';
  if (verdict === 'not measured') return 'not-measured';
  return 'note';
}

const GATE_ICONS: Record<GateOutcome, Icon> = {
  pass: { id: 'check', color: 'testing.iconPassed' },
  fail: { id: 'close', color: 'errorForeground' },
  rollback: { id: 'discard', color: 'errorForeground' },
  advice: { id: 'lightbulb', color: 'list.warningForeground' },
  'not-measured': { id: 'question', color: 'disabledForeground' },
  note: { id: 'info' },
};

/** A gate line: the measurement and verdict as the label, the condition's reason (in parentheses at its end) as the description. */
export function describeGateLine(line: string): RunItemModel {
  const outcome = gateOutcome(line);
  // "…: fail (high-quality SFT data > 1k records (seed 004))": the reason is the tail after the verdict.
  const m = /^(.*?:\s(?:pass|fail|not measured|roll back|clear))\s\((.*)\)$/.exec(line);
  return {
    label: (m?.[1] ?? line).replace(/\s\(advice\)/, ''),
    description: [outcome === 'advice' ? 'advice only' : undefined, m?.[2]].filter(Boolean).join(' · '),
    tooltip: [line, outcome === 'advice' ? 'An advisory condition: it is reported, it does not stop the pipeline.' : ''].filter(Boolean),
    icon: GATE_ICONS[outcome],
    contextValue: `anneal-gate gate-${outcome}`,
  };
}

/** The pipeline's result: which stage's output it is, and where. */
export function describeResult(info: PipelineInfo): RunItemModel | undefined {
  if (!info.result) return undefined;
  const final = info.status === 'completed' || info.status === 'halted';
  return {
    label: `Result: ${info.result.stage}'s output`,
    description: info.exportedTo ?? info.result.output,
    tooltip: [
      `The pipeline's result ${final ? 'is' : 'so far is'} the output of ${info.result.stage}, the last stage that passed its gates:`,
      info.result.output,
      info.exportedTo ? `Copied to the recipe's output_dir ${info.exportedTo}` : undefined,
      'Right-click → Export Run… writes it as a PEFT adapter, a merged model or a GGUF.',
    ].filter((s): s is string => Boolean(s)),
    icon: { id: 'star-full', color: 'charts.yellow' },
    contextValue: 'anneal-result can-export has-output',
  };
}

/** "gguf q8_0", "merged": an export's format as the user wrote it. */
export function exportTitle(e: Pick<RecipeExportRecord, 'format' | 'quant'>): string {
  return e.format.includes('gguf') ? `${e.format.toUpperCase()} ${e.quant ?? 'f16'}` : e.format;
}

const EXPORT_ICONS: Record<RecipeExportRecord['status'], Icon> = {
  pending: { id: 'clock' },
  running: { id: 'sync~spin', color: 'charts.blue' },
  done: { id: 'package', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'errorForeground' },
};

/** An export of the recipe's `export:` block: what it writes, where, and what became of it. */
export function describeExport(e: RecipeExportRecord): RunItemModel {
  const main = e.files?.find((f) => /\.gguf$/i.test(f));
  // A GGUF is run through llama.cpp once written: whether it answers as Anneal does (llamaCheck).
  const check = e.llamaCheck?.status === 'same' ? 'llama.cpp agrees' : e.llamaCheck?.status === 'differ' ? 'llama.cpp answers differ' : undefined;
  return {
    label: `Export ${exportTitle(e)}`,
    description:
      e.status === 'done'
        ? [check, main ? `${e.out}/${main}` : e.out].filter(Boolean).join(' · ')
        : e.status === 'failed'
          ? `failed: ${e.error ?? 'see the log'}`
          : e.status === 'running'
            ? `writing ${e.out}…`
            : 'waiting for training to end',
    tooltip: [
      `Export ${exportTitle(e)}: ${e.status}`,
      `Folder ${e.out}`,
      e.files?.length ? `Files: ${e.files.join(', ')}` : undefined,
      e.error ? `Failed: ${e.error}` : undefined,
      e.llamaCheck ? `llama.cpp check: ${e.llamaCheck.summary}` : undefined,
    ].filter((s): s is string => Boolean(s)),
    icon: e.llamaCheck?.status === 'differ' ? { id: 'package', color: 'list.warningForeground' } : (EXPORT_ICONS[e.status] ?? { id: 'package' }),
    contextValue: `anneal-export export-${e.status}${e.status === 'done' ? ' has-path' : ''}`,
  };
}
