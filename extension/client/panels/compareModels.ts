// The models the side-by-side chat offers on each side, and what each asks the daemon for: every run
// with an output (its adapter over its base), every run's base model, the built-in `tiny`, and the
// folders / Hub ids the user added. Pure (no vscode import), so the choice list is unit-testable.
import type { ModelOption } from '../../../core/protocol/compareView.ts';
import type { GenerateParams } from '../../../core/protocol/generate.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';

/** The last path segment of a model reference, or the reference itself. */
function shortName(model: string): string {
  if (model === 'tiny') return 'tiny';
  // A pipeline stage starts from an earlier run's output folder: name that run.
  const output = /[\\/]runs[\\/]([a-z0-9-]+)[\\/]output[\\/]?$/.exec(model);
  if (output) return `${output[1]} output`;
  return model.split(/[\\/]/).filter(Boolean).pop() ?? model;
}

/** A run with an output the daemon can answer with. */
function hasOutput(run: RunInfo): boolean {
  return run.status === 'completed' && (run.outputDir !== undefined || run.step > 0);
}

/** Every choice, runs newest first (the list the daemon gives), then tiny, then the models added. */
export function compareOptions(runs: readonly RunInfo[], added: readonly string[]): ModelOption[] {
  const options: ModelOption[] = [];
  for (const run of runs) {
    const stage = run.pipeline ? `${run.stage.toUpperCase()} · stage ${run.pipeline.index + 1}/${run.pipeline.count} (${run.pipeline.name})` : run.stage.toUpperCase();
    if (hasOutput(run)) options.push({ id: `run:${run.id}`, label: `${run.id} (output)`, detail: `${stage} on ${shortName(run.model)}` });
  }
  const bases = new Set<string>();
  for (const run of runs) {
    // One entry per base model: runs on the same base answer alike (tiny is drawn from each run's seed).
    const key = `${run.model}#${run.args.seed ?? 42}`;
    if (bases.has(key) || (run.model === 'tiny' && (run.args.seed ?? 42) === 42)) continue;
    bases.add(key);
    options.push({ id: `base:${run.id}`, label: `${shortName(run.model)} (base of ${run.id})`, detail: run.model });
  }
  options.push({ id: 'tiny', label: 'tiny (built-in test model)', detail: 'the base of tiny runs with the default seed' });
  for (const ref of added) options.push({ id: `model:${ref}`, label: shortName(ref), detail: ref });
  return options;
}

/** What `models/generate` is asked for an option id; undefined for an id of no known shape. */
export function generateTarget(id: string): Pick<GenerateParams, 'model' | 'base'> | undefined {
  if (id === 'tiny') return { model: 'tiny' };
  if (id.startsWith('run:')) return { model: id.slice(4) };
  if (id.startsWith('base:')) return { model: id.slice(5), base: true };
  if (id.startsWith('model:')) return { model: id.slice(6) };
  return undefined;
}

/**
 * The sides when the panel opens: a run's output against its base model (the run asked for, else the
 * newest run with an output); without such a run, tiny on both sides.
 */
export function defaultSides(runs: readonly RunInfo[], options: readonly ModelOption[], runId?: string): { left: string; right: string } {
  const run = runs.find((r) => r.id === runId && hasOutput(r)) ?? runs.find(hasOutput);
  if (!run) return { left: 'tiny', right: 'tiny' };
  const base = run.model === 'tiny' ? (run.args.seed ?? 42) === 42 ? 'tiny' : `base:${run.id}` : `base:${run.id}`;
  // The base option may be listed under another run on the same base; keep the id the list has.
  const listed = options.find((o) => o.id === base) ?? options.find((o) => o.id.startsWith('base:') && o.detail === run.model);
  return { left: `run:${run.id}`, right: listed?.id ?? `base:${run.id}` };
}
