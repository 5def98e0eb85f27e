// Messages between the extension host and its two model-inspection views: the side-by-side chat
// (`compare`) and the pipeline report (`pipelineReport`). The host talks to the daemon and writes the
// judgements file; the views only draw and ask. Declared once, imported by both ends (no node imports).

import type { PipelineInfo } from './pipelines.ts';
import type { RunInfo } from './runs.ts';

// ---- side-by-side chat ------------------------------------------------------------------------

export type Side = 'left' | 'right';

/** A judgement: a winner side, or none (nothing is written). */
export type Verdict = 'left' | 'right' | 'both-bad' | 'skip';

/** A model the user can put on a side. */
export interface ModelOption {
  /** Stable key: `run:<id>`, `base:<id>`, `tiny`, `model:<ref>`. */
  id: string;
  label: string;
  /** Shown under the label: stage, status, where it came from. */
  detail?: string;
}

/** host -> view: the models to choose from, the sides' current choice, the judgements file. */
export interface CompareSetupMessage {
  type: 'compare/setup';
  models: ModelOption[];
  left: string;
  right: string;
  /** The judgements file (workspace-relative when inside the workspace). */
  file: string;
  /** Preference records appended to it from this panel. */
  saved: number;
  /** Put `left`/`right` on the pickers (opening, "Compare with Base Model", a model added); else the user's picks stay when still listed. */
  aim: boolean;
}

/** view -> host: answer this prompt on both sides. */
export interface CompareAskMessage {
  type: 'compare/ask';
  prompt: string;
  system: string;
  left: string;
  right: string;
  /** Hide which model is on which side, and shuffle the sides for this prompt. */
  blind: boolean;
  maxNewTokens: number;
  temperature: number;
}

/** host -> view: a prompt was sent; `turn` identifies it from now on. Labels are absent when blind. */
export interface CompareTurnMessage {
  type: 'compare/turn';
  turn: number;
  prompt: string;
  system: string;
  blind: boolean;
  labels?: Record<Side, string>;
}

/** host -> view: one side's answer (or why it has none). */
export interface CompareAnswerMessage {
  type: 'compare/answer';
  turn: number;
  side: Side;
  text?: string;
  error?: string;
  /** "12 tokens · 1.9 s", "cut at 128 tokens". */
  note?: string;
}

/** view -> host: the user's judgement of a turn. */
export interface CompareJudgeMessage {
  type: 'compare/judge';
  turn: number;
  verdict: Verdict;
}

/** host -> view: what became of a judgement; `reveal` names the sides of a blind turn. */
export interface CompareJudgedMessage {
  type: 'compare/judged';
  turn: number;
  verdict: Verdict;
  /** The 1-based line written, when a record was written. */
  line?: number;
  /** Why nothing was written although a side won (the checker refused the record, the file could not be written). */
  error?: string;
  /** The checker's warnings on the written record. */
  warnings?: string[];
  reveal?: Record<Side, string>;
}

/** view -> host: pick another judgements file / add a model by path or Hub id / stop the answers under way. */
export type CompareCommandMessage = { type: 'compare/pickFile' } | { type: 'compare/addModel'; side: Side } | { type: 'compare/cancel' };

// ---- pipeline report --------------------------------------------------------------------------

/** One sample prompt's answer before the stage trained (its first sample step) and after (its last). */
export interface BeforeAfter {
  prompt: string;
  before: { step: number; text: string };
  after: { step: number; text: string };
}

export interface StageReport {
  index: number;
  name: string;
  stage: string;
  status: string;
  /** The top-level model, or an earlier stage's output; merged into its base first when `merge`. */
  from: { kind: 'model' } | { kind: 'stage'; name: string };
  merge: boolean;
  runId?: string;
  run?: Pick<RunInfo, 'status' | 'model' | 'outputDir' | 'message' | 'step' | 'totalSteps'>;
  gates: string[];
  verdict: string[];
  /** Key metrics at the first and last logged step. */
  metrics: { name: string; start: number; end: number }[];
  firstStep?: number;
  lastStep?: number;
  samples: BeforeAfter[];
  /** Why the run's history could not be read, if it could not. */
  error?: string;
}

/** host -> view: the whole report, re-sent when the pipeline changes. */
export interface PipelineReportMessage {
  type: 'pipelineReport/data';
  pipeline: PipelineInfo;
  stages: StageReport[];
  /** The pipeline's decisions (its log.txt), newest last. */
  log: string[];
}

/** host -> view: the report could not be built. */
export interface PipelineReportErrorMessage {
  type: 'pipelineReport/error';
  message: string;
}

/** view -> host: read the pipeline again / open a stage's dashboard / reveal a folder / compare a stage with its base. */
export type PipelineReportCommandMessage =
  | { type: 'pipelineReport/refresh' }
  | { type: 'pipelineReport/openRun'; runId: string }
  | { type: 'pipelineReport/compare'; runId: string }
  | { type: 'pipelineReport/reveal'; path: string };

export type CompareHostToView = CompareSetupMessage | CompareTurnMessage | CompareAnswerMessage | CompareJudgedMessage | PipelineReportMessage | PipelineReportErrorMessage;
export type CompareViewToHost = CompareAskMessage | CompareJudgeMessage | CompareCommandMessage | PipelineReportCommandMessage;
