// The decisions of a pipeline, as functions of what its runs left behind: whether a finished stage
// hands over (its run completed and its gate report passed: seed 004's "不满足则不应进入下一阶段"),
// what a later stage's `@name` references become, and which output is the pipeline's result.
// Pure: the daemon (daemon/runs/pipeline.ts) reads the run records and gates.json and acts on these.
import type { GateReport } from '../gates/evaluate.ts';
import type { PipelineResult, PipelineStageInfo } from '../protocol/pipelines.ts';
import type { RunInfo } from '../protocol/runs.ts';
import type { RewardSpec, TrainingArguments } from '../recipe/types.ts';
import { stageRef } from '../recipe/pipeline.ts';

export type StageOutcome =
  /** Still queued or training. */
  | { kind: 'pending' }
  | { kind: 'passed'; output: string; notes: string[] }
  /** Its gates stopped the pipeline: failed entry/exit conditions, or a rollback (at the end or mid-run). */
  | { kind: 'held'; lines: string[] }
  | { kind: 'failed'; reason: string }
  | { kind: 'stopped' }
  | { kind: 'interrupted' };

/**
 * The engine's RollbackError messages (daemon/engine/loop.ts): a NaN or diverging loss, or a rollback
 * condition that held mid-run. A run failed with one of these was stopped by its gates, not broken:
 * retrying it would roll back again.
 */
const ROLLBACK_ERROR = /^(Rolled back at step|Training broke down at step)/;

/** Whether a finished stage's run hands over to the next stage, from its record and its gates.json. */
export function stageOutcome(run: Pick<RunInfo, 'status' | 'error' | 'message' | 'outputDir'>, report: GateReport | undefined): StageOutcome {
  switch (run.status) {
    case 'queued':
    case 'running':
    case 'stopping':
      return { kind: 'pending' };
    case 'stopped':
      return { kind: 'stopped' };
    case 'interrupted':
      return { kind: 'interrupted' };
    case 'failed': {
      const reason = run.error ?? run.message ?? 'the run failed';
      return ROLLBACK_ERROR.test(reason) ? { kind: 'held', lines: [reason] } : { kind: 'failed', reason };
    }
    case 'completed':
      break;
  }
  if (!run.outputDir) return { kind: 'failed', reason: 'the run completed without an output folder' };
  if (!report) return { kind: 'passed', output: run.outputDir, notes: ['no gate report (gates.json) was written: handed over without gates'] };
  const blocking = report.results.filter((r) => r.kind !== 'rollback' && r.verdict === 'fail' && r.condition.severity !== 'advise');
  if (report.rollback) return { kind: 'held', lines: [`rollback ${report.rollback.line}`, ...blocking.map((r) => `${r.kind} ${r.line}`)] };
  if (!report.passed) return { kind: 'held', lines: blocking.map((r) => `${r.kind} ${r.line}`) };
  const advice = report.results.filter((r) => r.verdict === 'fail' && r.condition.severity === 'advise').map((r) => `advice ${r.kind} ${r.line}`);
  return { kind: 'passed', output: run.outputDir, notes: advice };
}

/** The fields of a prepared stage run that may name an earlier stage's output. */
export interface StageRefs {
  model: string;
  args: TrainingArguments;
  rewards?: RewardSpec[];
}

/**
 * The stage with every `@name` replaced by that stage's output folder (its model, PPO's
 * `reward_model_path`, GRPO's reward `model`s); throws naming the reference that has no output yet.
 */
export function resolveStageRefs<T extends StageRefs>(run: T, outputs: ReadonlyMap<string, string>): T {
  const resolve = (value: string, where: string): string => {
    const name = stageRef(value);
    if (name === undefined) return value;
    const out = outputs.get(name);
    if (!out) throw new Error(`${where} is @${name}, a stage with no output yet`);
    return out;
  };
  const args = typeof run.args.reward_model_path === 'string' ? { ...run.args, reward_model_path: resolve(run.args.reward_model_path, 'reward_model_path') } : run.args;
  const rewards = run.rewards?.map((r) => (r.model !== undefined ? { ...r, model: resolve(r.model, `reward ${r.name}'s model`) } : r));
  return { ...run, model: resolve(run.model, 'model'), args, ...(rewards ? { rewards } : {}) };
}

/**
 * The pipeline's result: the output of the last policy stage that passed its gates (a reward model is
 * a tool of later stages, not the pipeline's model); undefined while none has.
 */
export function pipelineResult(stages: readonly Pick<PipelineStageInfo, 'name' | 'stage' | 'status' | 'output'>[]): PipelineResult | undefined {
  const good = stages.filter((s) => s.status === 'passed' && s.output && s.stage !== 'reward');
  const last = good.at(-1);
  return last ? { stage: last.name, output: last.output! } : undefined;
}

/** The sentence a halted pipeline ends with: which stage its gates stopped, why, and what its result is. */
export function haltMessage(stage: string, lines: readonly string[], result: PipelineResult | undefined, baseModel: string): string {
  const why = lines.length > 0 ? lines.join('; ') : 'its gates did not pass';
  const keep = result
    ? `the pipeline's result is the last good stage's output, ${result.stage}: ${result.output}`
    : `no stage passed its gates, so the pipeline has no trained result (the base model ${baseModel} stays)`;
  return `Stage ${stage} did not pass its gates (${why}); later stages were not started and ${keep}.`;
}
