// How a followed run looks in a terminal: a progress bar redrawn in place on a TTY, one plain line
// per logged step otherwise, or one JSON object per event with --json (for scripts).

import type { MetricRecord, RunInfo, SampleRecord } from '../../core/protocol/runs.ts';

export interface RunView {
  status(run: RunInfo): void;
  metrics(record: MetricRecord): void;
  sample(record: SampleRecord): void;
  log(line: string): void;
  /** Clears a half-drawn bar before other output. */
  end(): void;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

const fmt = (v: number | undefined, digits = 4) => (v === undefined || !Number.isFinite(v) ? '-' : v.toPrecision(digits));

/** A reward margin: three decimals near zero (where it starts), three significant digits beyond. */
function fmtMargin(v: number): string {
  if (Math.abs(v) >= 1) return String(Number(v.toPrecision(3)));
  const s = v.toFixed(3);
  return s === '-0.000' ? '0.000' : s;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The numbers of one logged record, `prefix` '' for training and 'eval/' for evaluation: the loss,
 * then for a preference run (DPO, KTO, ORPO, CPO, SimPO) how often the chosen answer wins and by how
 * much, which say more about such a run than its loss does. KTO reports a margin but no accuracy.
 */
function metricParts(m: MetricRecord, prefix: '' | 'eval/'): string[] {
  const parts = [`${prefix}loss ${fmt(m[`${prefix}loss`])}`];
  const acc = m[`${prefix}rewards/accuracies`];
  const margin = m[`${prefix}rewards/margins`];
  if (finite(acc)) parts.push(`${prefix ? 'eval/acc' : 'acc'} ${acc.toFixed(2)}`);
  if (finite(margin)) parts.push(`${prefix ? 'eval/margin' : 'margin'} ${fmtMargin(margin)}`);
  // Online RL (GRPO): the mean reward of the step's completions, and how many groups taught nothing.
  const reward = m[`${prefix}reward`];
  const zeroStd = m[`${prefix}frac_reward_zero_std`];
  if (finite(reward)) parts.push(`${prefix ? 'eval/reward' : 'reward'} ${fmtMargin(reward)}`);
  if (finite(zeroStd) && zeroStd > 0) parts.push(`${Math.round(zeroStd * 100)}% groups flat`);
  return parts;
}

/** One JSON object per event on stdout. */
export function jsonView(write: (s: string) => void = (s) => process.stdout.write(s)): RunView {
  const out = (o: object) => write(JSON.stringify(o) + '\n');
  return {
    status: (run) => out({ event: 'status', runId: run.id, status: run.status, phase: run.phase, step: run.step, totalSteps: run.totalSteps, message: run.message, progress: run.progress, error: run.error, checkpoint: run.checkpoint, backend: run.backend }),
    metrics: (record) => out({ event: 'metrics', ...record }),
    sample: (record) => out({ event: 'sample', ...record }),
    log: (line) => out({ event: 'log', line }),
    end: () => {},
  };
}

/** Human output: a bar on a TTY, plain lines otherwise. */
export function humanView(stream: NodeJS.WriteStream = process.stderr, showLogs = false): RunView {
  const tty = stream.isTTY === true;
  let total: number | undefined;
  let lastStatus = '';
  let barDrawn = false;
  let firstSeen: { step: number; time: number } | undefined;
  let lastTenth = -1;
  let lastBar = '';
  let lastGroup = { step: -1, group: -1 };
  const clearBar = () => {
    if (barDrawn) stream.write('\r\x1b[2K');
    barDrawn = false;
  };
  const drawBar = (text: string) => {
    // A line wider than the terminal wraps, and \r would then redraw only its last row.
    stream.write(`\r\x1b[2K${stream.columns ? text.slice(0, stream.columns - 1) : text}`);
    barDrawn = true;
  };
  const line = (s: string) => {
    clearBar();
    stream.write(s + '\n');
  };
  return {
    status(run) {
      total = run.totalSteps ?? total;
      if (run.progress && run.status === 'running') {
        // A model download: a bar redrawn in place on a TTY, a line per tenth otherwise.
        const { done, total: bytes } = run.progress;
        const fraction = bytes > 0 ? Math.min(1, done / bytes) : 0;
        if (!tty) {
          if (Math.floor(fraction * 10) !== lastTenth) line(`[${run.id}] ${run.message ?? 'loading'}`);
          lastTenth = Math.floor(fraction * 10);
          return;
        }
        const width = 24;
        const filled = Math.round(fraction * width);
        const text = `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${run.message ?? ''}`;
        drawBar(text);
        lastStatus = '';
        return;
      }
      lastTenth = -1;
      const key = `${run.status}/${run.phase ?? ''}/${run.message ?? ''}`;
      if (key === lastStatus) return;
      lastStatus = key;
      const backend = run.backend && run.phase === 'training' ? ` on ${run.backend.name} (${run.backend.device})` : '';
      line(`[${run.id}] ${run.status}${run.phase && run.status === 'running' ? ` (${run.phase})` : ''}${backend}${run.message ? `: ${run.message}` : ''}`);
    },
    metrics(m) {
      const now = Date.now();
      if (!firstSeen || m.step < firstSeen.step) firstSeen = { step: m.step, time: now };
      const perStep = m.step > firstSeen.step ? (now - firstSeen.time) / 1000 / (m.step - firstSeen.step) : NaN;
      const eta = total !== undefined ? formatDuration(perStep * (total - m.step)) : '?';
      const tps = m['train/tokens_per_second'];
      // The engine logs a step's training numbers and its evaluation as two records.
      const isTrain = m.loss !== undefined;
      const isEval = m['eval/loss'] !== undefined;
      if (!isTrain && !isEval) return;
      const parts = [...(isTrain ? metricParts(m, '') : []), ...(isEval ? metricParts(m, 'eval/') : [])];
      if (isTrain && tps !== undefined) parts.push(`${Math.round(tps)} tok/s`);
      const stepText = total !== undefined ? `${m.step}/${total}` : String(m.step);
      if (!tty) {
        stream.write(`step ${stepText} ${parts.join('  ')}  ETA ${eta}\n`);
        return;
      }
      if (!isTrain) {
        // Evaluations are few and worth keeping: a line in the scrollback, with the bar redrawn below it.
        line(`eval @ step ${stepText}: ${parts.join('  ')}`);
        if (lastBar) drawBar(lastBar);
        return;
      }
      const width = 24;
      const filled = total ? Math.min(width, Math.round((m.step / total) * width)) : 0;
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      lastBar = `step ${stepText} ${bar} ${parts.join('  ')}  ETA ${eta}`;
      drawBar(lastBar);
    },
    sample(s) {
      if (s.scored) {
        // A GRPO group is num_generations completions: one line per group (its first), with its reward.
        if (s.scored.group === lastGroup.group && s.step === lastGroup.step) return;
        lastGroup = { step: s.step, group: s.scored.group };
        const reward = s.scored.reward === null ? 'no reward' : `reward ${fmtMargin(s.scored.reward)}`;
        line(`group ${s.scored.group} @ step ${s.step}: ${JSON.stringify(s.prompt).slice(0, 60)} -> ${JSON.stringify(s.completion).slice(0, 100)} (${reward}${s.scored.error ? `; ${s.scored.error}` : ''})`);
        return;
      }
      line(`sample @ step ${s.step}: ${JSON.stringify(s.prompt).slice(0, 60)} -> ${JSON.stringify(s.completion).slice(0, 120)}`);
    },
    log(l) {
      if (showLogs) line(l);
    },
    end: clearBar,
  };
}
