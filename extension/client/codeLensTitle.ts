// What a recipe's CodeLens says: "Run" for a one-stage recipe, "Run pipeline (sft → dpo)" for one with
// `stages:`, so the user sees what the click starts. Pure (no vscode): the stage names come from the
// document's text the same way the recipe checker names them (core/recipe/pipeline.ts).
import { parse as parseYaml } from 'yaml';
import { expandPipeline, isPipeline } from '../../core/recipe/pipeline.ts';

export interface RecipeLens {
  title: string;
  tooltip: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The stage names of a pipeline recipe in order (an unnamed second dpo is dpo-2); undefined for a single-stage recipe or text that does not parse. */
export function pipelineStageNames(text: string): string[] | undefined {
  let value: unknown;
  try {
    value = parseYaml(text, { merge: true });
  } catch {
    return undefined;
  }
  if (!isObj(value) || !isPipeline(value)) return undefined;
  const { stages } = expandPipeline(value);
  return stages.map((s) => s.name);
}

/** The recipe's lens. A pipeline whose stages cannot be read yet (mid-edit) still says it is one. */
export function recipeLens(text: string): RecipeLens {
  const names = pipelineStageNames(text);
  if (names === undefined) return { title: '$(play) Run', tooltip: 'Train this recipe on the Anneal daemon' };
  if (names.length === 0) return { title: '$(play) Run pipeline', tooltip: 'Train this pipeline\'s stages in order on the Anneal daemon (its stages have problems: see the Problems panel)' };
  return {
    title: `$(play) Run pipeline (${names.join(' → ')})`,
    tooltip: `Train ${names.length === 1 ? 'this pipeline\'s one stage' : `these ${names.length} stages in order`} on the Anneal daemon; each hands over to the next only if its gates pass`,
  };
}
