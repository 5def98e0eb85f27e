// A run on TRL + Accelerate with the engine's interface (daemon/engine/api.ts `Train`): map the recipe,
// normalise its data, check the plan in the chosen Python (packages, keys, values; no model loaded),
// then start `python -m anneal_trl run` and turn its event lines into the same callbacks a native run
// makes. Stopping asks the launcher for a checkpoint and a clean exit (SIGTERM); if this process dies,
// the launcher sees its stdin close and does the same, so a killed daemon leaves a resumable run.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TrainEvents, TrainJob, TrainResult } from '../engine/api.ts';
import { RunGates, type RollbackError } from '../engine/runGates.ts';
import type { AccelerateLaunch, ResolvedRecipe } from '../../core/recipe/types.ts';
import { trlDataFile } from './data.ts';
import { checkPlan, findTrlPython, launcherEnv } from './environment.ts';
import { parseEvent } from './events.ts';
import { checkpointStep, takeOrphanedWork } from './orphaned.ts';
import { trlPlan, type TrlPlan } from './mapping.ts';

/** A job for the TRL engine: the engine's job plus the recipe's engine keys. */
export interface TrlJob extends TrainJob {
  /** Set: the worker trains this job on TRL (daemon/runs/worker.ts); absent: Anneal's engine. */
  engine?: 'trl';
  python?: string;
  accelerate?: Partial<AccelerateLaunch>;
  /** The recipe file's folder (where a project venv is looked for). */
  recipeDir?: string;
}

/** The plan for a job, its data normalised into the run folder; throws one sentence when TRL cannot train it. */
export function prepareTrlPlan(job: TrlJob, log: (line: string) => void): TrlPlan {
  const recipe: ResolvedRecipe = {
    stage: job.stage,
    model: job.model,
    data: job.data,
    args: job.args,
    lora: job.lora,
    ...(job.samples ? { samples: job.samples } : {}),
    ...(job.rewards ? { rewards: job.rewards } : {}),
    ...(job.gates !== undefined ? { gates: job.gates } : {}),
    engine: 'trl',
    ...(job.accelerate ? { accelerate: job.accelerate } : {}),
  };
  const result = trlPlan({ recipe, runDir: job.runDir, ...(job.resumeFrom ? { resumeFrom: job.resumeFrom } : {}) });
  if ('refusal' in result) throw new Error(result.refusal);
  for (const note of result.notes) log(`[anneal] ${note}`);
  const plan = result.plan;
  // Anneal's default assistant_only_loss (TRL's is off, and needs {% generation %} markers in the chat
  // template): the data carries it instead, single-answer conversations going in as prompt/completion.
  const assistantOnly = job.stage === 'sft' && job.args.assistant_only_loss === true && plan.config.assistant_only_loss === undefined;
  const data: { train: string; eval?: string } = { train: job.data.train };
  for (const split of ['train', 'eval'] as const) {
    const path = job.data[split];
    if (path === undefined) continue;
    const r = trlDataFile(path, job.runDir, split, assistantOnly);
    if ('refusal' in r) throw new Error(r.refusal);
    if (r.converted > 0) log(`[anneal] ${r.converted} ${split} record(s) normalised to TRL's form in ${r.path}`);
    if (r.split > 0) log(`[anneal] ${r.split} ${split} conversation(s) given to TRL as prompt/completion, so it trains on the answers only (assistant_only_loss)`);
    if (r.multiTurn > 0) {
      log(`[anneal] ${r.multiTurn} ${split} conversation(s) have several answers: TRL trains on all of their tokens (its assistant_only_loss needs a chat template with {% generation %} markers; write \`assistant_only_loss: true\` if yours has them), Anneal's engine on the answers only`);
    }
    data[split] = r.path;
  }
  plan.data = data;
  return plan;
}

/** Writes plan.json into `<runDir>/trl/`; returns its path. */
export function writePlan(plan: TrlPlan): string {
  const path = join(plan.run_dir, 'trl', 'plan.json');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(plan, null, 1) + '\n');
  return path;
}

/** Trains `job` on TRL; resolves like the engine's train() (stopped: a checkpoint was saved first). */
export async function trainWithTrl(job: TrlJob, events: TrainEvents, signal: AbortSignal): Promise<TrainResult> {
  await waitForEarlierLauncher(job.runDir, events, signal);
  job = takeUpOrphanedWork(job, events);
  events.status({ phase: 'loading', message: 'checking the Python environment for TRL' });
  const plan = prepareTrlPlan(job, (line) => events.log(line));
  const python = await findTrlPython(job.python, plan.peft !== null, job.recipeDir);
  if (!('versions' in python) || python.problem) throw new Error(python.problem ?? 'No Python with TRL found.');
  events.log(`[anneal] TRL engine: ${python.python} (trl ${python.versions.trl}, transformers ${python.versions.transformers}, accelerate ${python.versions.accelerate}${python.versions.peft ? `, peft ${python.versions.peft}` : ''})`);
  const planPath = writePlan(plan);
  const check = await checkPlan(python.python, planPath);
  if (!check.ok) throw new Error(check.message);
  if (signal.aborted) return { finalStep: 0, outputDir: plan.output_dir, stopped: true };
  return launch(python.python, planPath, plan, job, events, signal);
}

function launch(python: string, planPath: string, plan: TrlPlan, job: TrlJob, events: TrainEvents, signal: AbortSignal): Promise<TrainResult> {
  return new Promise((resolve, reject) => {
    // stdin stays open: its end (this process died) is the launcher's cue to checkpoint and stop.
    const child = spawn(python, ['-m', 'anneal_trl', 'run', planPath, '--watch-stdin'], { env: launcherEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const pidFile = launcherPidFile(plan.run_dir);
    if (child.pid !== undefined) writeFileSync(pidFile, `${child.pid}\n`);
    let step = 0;
    let outcome: { done?: boolean; stopped?: boolean; error?: string } = {};
    // Seed 004's gates, watched on TRL's logged metrics as on the engine's: a rollback asks the
    // training processes to stop without saving (the stop file says "rollback"), then fails the run.
    const gates = new RunGates(job.stage, job.gates);
    let rollback: RollbackError | undefined;
    const tail: string[] = [];
    const onLine = (line: string) => {
      const event = parseEvent(line);
      if (!event) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        events.log(line);
        return;
      }
      switch (event.kind) {
        case 'status':
          events.status({ phase: event.phase, ...(event.message ? { message: event.message } : {}), ...(event.totalSteps ? { totalSteps: event.totalSteps } : {}), ...(event.backend ? { backend: event.backend } : {}) });
          break;
        case 'metrics': {
          const record: { step: number; [name: string]: number } = { step: event.step };
          for (const [k, v] of Object.entries(event.metrics)) if (typeof v === 'number') record[k] = v;
          step = Math.max(step, event.step);
          events.metrics(record);
          const why = gates.observe(record);
          if (why && !rollback) {
            rollback = RunGates.rollback(event.step, why);
            events.log(`[anneal] ${rollback.message}`);
            writeFileSync(plan.stop_file, 'rollback\n');
          }
          break;
        }
        case 'sample':
          events.sample({ step: event.step, prompt: event.prompt, completion: event.completion, ...(event.scored ? { scored: event.scored } : {}) });
          break;
        case 'checkpoint':
          step = Math.max(step, event.step);
          events.checkpoint({ step: event.step, path: event.path });
          break;
        case 'log':
          events.log(event.line);
          break;
        case 'stopped':
          step = event.step;
          outcome = { stopped: true };
          break;
        case 'done':
          step = event.step;
          outcome = { done: true };
          events.status({ phase: 'done' });
          break;
        case 'error':
          outcome = { error: event.message };
          break;
        case 'exit':
          break;
      }
    };
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', onLine);
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      events.log(line);
    });
    const stop = () => child.kill('SIGTERM');
    signal.addEventListener('abort', stop, { once: true });
    child.on('error', (err) => reject(new Error(`Could not start ${python} for TRL (${err.message}).`)));
    child.on('close', (code, sig) => {
      signal.removeEventListener('abort', stop);
      rmSync(pidFile, { force: true });
      if (rollback) reject(rollback);
      else if (outcome.done) {
        try {
          gates.finish(job.stage, countRecords(job.data.train), job.runDir, (line) => events.log(line));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        resolve({ finalStep: step, outputDir: plan.output_dir, stopped: false });
      }
      else if (outcome.stopped) resolve({ finalStep: step, outputDir: plan.output_dir, stopped: true });
      else if (outcome.error) reject(new Error(outcome.error));
      else {
        const last = tail.filter((l) => l.trim()).pop();
        reject(new Error(`The TRL processes ended without finishing (${sig ? `signal ${sig}` : `exit ${code}`})${last ? `: ${last.trim()}` : ''}; the log has the details.`));
      }
    });
  });
}

/**
 * After a kill -9 of the daemon, the steps the TRL processes trained alone (trl/orphaned.log): their
 * metrics join the history and their last checkpoint is where this attempt resumes, when nothing is missing.
 */
function takeUpOrphanedWork(job: TrlJob, events: TrainEvents): TrlJob {
  const recorded = checkpointStep(job.resumeFrom);
  const work = takeOrphanedWork(job.runDir, recorded, job.args.logging_steps);
  if (!work) return job;
  if ('reason' in work) {
    events.log(`[anneal] resuming from the recorded checkpoint (step ${recorded}), not from what the TRL processes did after the daemon stopped: ${work.reason}`);
    return job;
  }
  for (const m of work.metrics) events.metrics(m);
  events.checkpoint(work.checkpoint);
  events.log(`[anneal] took up steps ${recorded + 1}-${work.checkpoint.step}, trained by the TRL processes after the daemon stopped (their metrics from trl/orphaned.log); resuming from their checkpoint at step ${work.checkpoint.step}`);
  return { ...job, resumeFrom: work.checkpoint.path };
}

/** The records of a data file the daemon's start checks passed: its non-blank lines. */
function countRecords(path: string): number {
  let n = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) if (line.trim() !== '') n++;
  return n;
}

/** Where a run's launcher writes its pid while it runs (removed when it exits). */
const launcherPidFile = (runDir: string) => join(runDir, 'trl', 'launcher.pid');

/** How long a resume waits for the launcher of a killed daemon's run to save its checkpoint and exit. */
const EARLIER_LAUNCHER_WAIT_MS = 5 * 60_000;

/**
 * When the daemon is killed (kill -9), the run's worker exits and its launcher, seeing its stdin close,
 * saves a checkpoint and stops: it may still be at it when the run is resumed. Two trainings must never
 * write one run folder, so wait for it (then end it: it had its chance to save).
 */
async function waitForEarlierLauncher(runDir: string, events: TrainEvents, signal: AbortSignal): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(launcherPidFile(runDir), 'utf8').trim());
  } catch {
    return;
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      // A reused pid belongs to something else: only a launcher of ours counts (no /proc: trust the pid).
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('anneal_trl');
      } catch {
        return true;
      }
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return;
  events.status({ phase: 'loading', message: `waiting for the earlier TRL process (pid ${pid}) to save its checkpoint and exit` });
  events.log(`[anneal] the TRL process of this run's earlier attempt (pid ${pid}) is still saving; waiting for it to exit`);
  const deadline = Date.now() + EARLIER_LAUNCHER_WAIT_MS;
  while (alive() && Date.now() < deadline && !signal.aborted) await new Promise((r) => setTimeout(r, 500));
  if (!alive()) return;
  // The launcher's second and third stop requests end its training processes (their own process group).
  events.log(`[anneal] ending the earlier TRL process (pid ${pid})`);
  for (const wait of [2000, 5000]) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const until = Date.now() + wait;
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
