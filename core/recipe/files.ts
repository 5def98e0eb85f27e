// What a recipe's checks learn from the files it points at: the data's kind and health, the model
// folder's contents. Dataset results are cached by path and text, so re-checking a recipe on every
// keystroke does not re-check an unchanged 100k-line file.

import { dirname, isAbsolute, resolve } from 'node:path';
import { adapterBaseModel } from '../modelRef.ts';
import { checkDataset, datasetOptionsFor, type DatasetSummary } from '../datasets/index.ts';
import type { Diagnostic } from '../diagnostics.ts';
import type { FileAccess } from '../fileAccess.ts';

/** Resolve a path written in a recipe against the recipe's folder. */
export function resolveFrom(recipeFile: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(recipeFile), path);
}

export interface DataFacts {
  summary: DatasetSummary;
  /** First error line (0-based) other than missing reward columns, for the message. */
  firstErrorLine?: number;
  /** Errors other than missing reward columns. */
  errors: number;
  /** Records lacking each required column. */
  missingColumns: Map<string, number>;
}

const dataCache = new Map<string, { text: string; columns: string; facts: DataFacts }>();
const DATA_CACHE_SIZE = 8;

/** Check a data file once per (path, content, required columns). Undefined when it cannot be read. */
export function dataFacts(path: string, files: FileAccess, requiredColumns: string[]): DataFacts | undefined {
  const text = files.readText(path);
  if (text === undefined) return undefined;
  const columns = requiredColumns.join('\u0000');
  const cached = dataCache.get(path);
  if (cached && cached.columns === columns && cached.text === text) return cached.facts;
  const report = checkDataset(text, datasetOptionsFor(path, files, { retainRecords: false, nearDuplicates: false, requiredColumns }));
  const missingColumns = new Map<string, number>();
  let errors = 0;
  let firstErrorLine: number | undefined;
  for (const d of report.diagnostics as Diagnostic[]) {
    if (d.code === 'missing-column') {
      const named = (d.data as { column?: unknown } | undefined)?.column;
      const column = typeof named === 'string' ? named : (requiredColumns.find((c) => d.message.includes(`"${c}"`)) ?? requiredColumns[0]);
      missingColumns.set(column, (missingColumns.get(column) ?? 0) + 1);
    } else if (d.severity === 'error') {
      errors++;
      firstErrorLine ??= d.range.start.line;
    }
  }
  const facts: DataFacts = { summary: report.summary, errors, firstErrorLine, missingColumns };
  dataCache.delete(path);
  dataCache.set(path, { text, columns, facts });
  if (dataCache.size > DATA_CACHE_SIZE) dataCache.delete(dataCache.keys().next().value!);
  return facts;
}

export interface ModelFacts {
  missing: string[];
  /** Context length from config.json (max_position_embeddings, n_positions, ...). */
  context?: number;
}

/**
 * What a model folder holds and lacks. A PEFT adapter folder (an earlier run's output) is a model
 * too: its weights, and the base its adapter_config.json names (a folder is checked in turn).
 */
export function modelFacts(dir: string, files: FileAccess): ModelFacts {
  const entries = files.listDir(dir);
  const missing: string[] = [];
  if (entries.includes('adapter_config.json')) {
    if (!entries.includes('adapter_model.safetensors')) missing.push('adapter_model.safetensors');
    let base: string;
    try {
      base = adapterBaseModel(dir, files);
    } catch (err) {
      return { missing: [...missing, (err as Error).message] };
    }
    if (base === 'tiny' || !files.exists(base)) return { missing };
    const baseFacts = files.isDirectory(base) ? modelFacts(base, files) : { missing: [] };
    return { missing: [...missing, ...baseFacts.missing.map((m) => `${m} (in the base model ${base})`)], context: baseFacts.context };
  }
  if (!entries.includes('config.json')) missing.push('config.json');
  if (!entries.some((e) => e.endsWith('.safetensors'))) missing.push('*.safetensors weights');
  if (!entries.includes('tokenizer.json')) missing.push('tokenizer.json');
  let context: number | undefined;
  const configText = entries.includes('config.json') ? files.readText(`${dir}/config.json`) : undefined;
  if (configText !== undefined) {
    try {
      const config = JSON.parse(configText) as Record<string, unknown>;
      const text = (config.text_config ?? {}) as Record<string, unknown>;
      for (const key of ['max_position_embeddings', 'n_positions', 'max_sequence_length', 'seq_length']) {
        const v = config[key] ?? text[key];
        if (typeof v === 'number' && v > 0) {
          context = v;
          break;
        }
      }
    } catch {
      missing.push('a config.json that parses');
    }
  }
  return { missing, context };
}

/**
 * Whether a model folder can score text as a reward: `yes` for a sequence classifier (a PEFT adapter
 * with task_type SEQ_CLS or a saved `score` module, a config.json naming *ForSequenceClassification),
 * `no` for another model, `not-a-model` without config.json or adapter_config.json. A folder that
 * does not say passes as `yes`: the engine decides from the weights.
 */
export function rewardModelKind(dir: string, files: FileAccess): 'yes' | 'no' | 'not-a-model' {
  const entries = files.listDir(dir);
  const json = (name: string): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(files.readText(`${dir}/${name}`) ?? '');
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  if (entries.includes('adapter_config.json')) {
    const adapter = json('adapter_config.json');
    if (!adapter) return 'yes';
    if (adapter.task_type === 'SEQ_CLS' || (Array.isArray(adapter.modules_to_save) && adapter.modules_to_save.includes('score'))) return 'yes';
    return typeof adapter.task_type === 'string' ? 'no' : 'yes';
  }
  if (!entries.includes('config.json')) return 'not-a-model';
  const architectures = json('config.json')?.architectures;
  if (!Array.isArray(architectures) || architectures.length === 0) return 'yes';
  return architectures.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification')) ? 'yes' : 'no';
}
