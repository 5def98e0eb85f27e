// What a pipeline cannot hand to a TRL stage, said before its first stage trains (prepare.ts). Both
// engines write and read the same PEFT adapters (adapter_config.json + adapter_model.safetensors) and
// Hugging Face model folders, so stages may change engine: an adapter continues on the other engine
// (python/anneal_trl/start_model.py; daemon/engine/startModel.ts), a merged or fully trained folder
// loads in either. What cannot cross is Anneal's built-in `tiny` model: an adapter of it names
// `anneal/tiny` as its base, which transformers cannot load.
import type { TrlEngineSettings } from '../../core/protocol/runs.ts';

export interface PipelineStageView {
  name: string;
  from: { kind: 'model' } | { kind: 'stage'; name: string };
  run: { model: string; engine?: TrlEngineSettings };
}

/** One sentence when a TRL stage would start from a model TRL cannot load; undefined when every stage can start. */
export function trlPipelineRefusal(stages: readonly PipelineStageView[]): string | undefined {
  // The model each stage's output builds on: the top-level model (or its own), through every handover.
  const root = new Map<string, { model: string; via: string[] }>();
  for (const stage of stages) {
    const earlier = stage.from.kind === 'stage' ? root.get(stage.from.name) : undefined;
    const origin = earlier ? { model: earlier.model, via: [...earlier.via, stage.from.kind === 'stage' ? stage.from.name : ''] } : { model: stage.run.model, via: [] };
    root.set(stage.name, origin);
    if (stage.run.engine?.name !== 'trl' || origin.via.length === 0 || origin.model !== 'tiny') continue;
    const from = origin.via.at(-1)!;
    return `Stage ${stage.name} trains on TRL from stage ${from}'s output, which builds on Anneal's built-in \`tiny\` model that TRL cannot load; give the pipeline a Hugging Face \`model\` (a folder, a .gguf file or a Hub id), or train ${stage.name} on Anneal's engine (\`engine: anneal\` in its stage).`;
  }
  return undefined;
}
