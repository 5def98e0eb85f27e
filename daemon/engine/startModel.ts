// What a run starts from: `tiny`, a model folder, a .gguf file, an Ollama name or a Hub id (fetched
// when missing), or a PEFT adapter folder, such as an earlier run's output (SFT before DPO): then the
// base its adapter_config.json names is loaded and the adapter continues training, with its own
// rank and target modules; a preference stage's reference is that adapter, frozen (as TRL copies
// a model's existing adapter into a frozen "ref" adapter).
import type { LoraConfig, TrainingArguments } from '../../core/recipe/types.ts';
import { adapterBaseModel } from '../../core/modelRef.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { describeDownload, resolveModel, type DownloadProgress } from '../models/hub.ts';
import type { TrainEvents, TrainJob } from './api.ts';
import { openModelSource, type ModelSource } from './modelSource.ts';
import { isPeftAdapter, readPeftAdapter, type PeftAdapterFolder } from './peftAdapter.ts';
import { quantizedFootprint } from './quantized.ts';

export interface StartModel {
  source: ModelSource;
  /** The adapter folder the run continues, when `model` was one. */
  adapter: { dir: string; folder: PeftAdapterFolder } | null;
  /** The LoRA settings the run trains with (the adapter's own when continuing one); null = full fine-tuning. */
  lora: LoraConfig | null;
}

export async function openStartModel(job: TrainJob, args: TrainingArguments, events: TrainEvents, signal: AbortSignal): Promise<StartModel> {
  // A Hub id becomes its snapshot in the Hugging Face cache, downloaded first (with progress) when missing.
  const onProgress = (p: DownloadProgress) => events.status({ phase: 'loading', message: describeDownload(p), progress: { done: p.done, total: p.total } });
  let folder = await resolveModel(job.model, { signal, onProgress, log: events.log });
  let adapter: StartModel['adapter'] = null;
  let lora = job.lora;
  if (folder.dir !== 'tiny' && isPeftAdapter(folder.dir)) {
    adapter = { dir: folder.dir, folder: readPeftAdapter(folder.dir) };
    const base = adapterBaseModel(folder.dir, nodeFiles);
    events.log(`${job.model} is a LoRA adapter (r=${adapter.folder.config.r}); training continues it on its base model ${base}`);
    if (job.lora && (job.lora.r !== adapter.folder.config.r || JSON.stringify(job.lora.target_modules) !== JSON.stringify(adapter.folder.config.target_modules))) {
      events.log(`the recipe's lora settings are left aside: the adapter keeps its own rank and target modules`);
    }
    lora = { ...adapter.folder.config, dropout: job.lora?.dropout ?? adapter.folder.config.dropout };
    folder = await resolveModel(base, { signal, onProgress, log: events.log });
  }
  if (args.load_in_4bit && !lora) {
    throw new Error('load_in_4bit keeps the base model quantized and frozen, so it needs LoRA; add `lora: {}` to the recipe (or remove load_in_4bit for full fine-tuning).');
  }
  const source = await openModelSource(folder.dir, args.seed, { loadIn4bit: args.load_in_4bit === true });
  if (source.quantized) {
    const { bytes, floatBytes } = quantizedFootprint(source.quantized);
    events.log(`load_in_4bit: ${source.quantized.size} frozen linear weights kept quantized in ${(bytes / 2 ** 20).toFixed(0)} MiB instead of ${(floatBytes / 2 ** 20).toFixed(0)} MiB of float32, dequantized layer by layer as they are used`);
  }
  if (folder.hub) source.baseName = folder.hub.id;
  return { source, adapter, lora };
}
