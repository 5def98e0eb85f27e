// LLaMA-Factory `dataset_info.json` support: a file described there may rename columns and ShareGPT
// role/content tags, or hold ranked pairs (`ranking: true`). Records are mapped to Anneal's own
// spelling before detection, and diagnostic paths are mapped back to the file's own keys.

import type { FileAccess } from '../fileAccess.ts';
import type { JsonObject } from './detect.ts';
import type { JsonPath } from './jsonPositions.ts';
import { isObject, SHAREGPT_ROLES } from './normalize.ts';
import type { DatasetInfoEntry } from './types.ts';

export interface Canonicalizer {
  sharegpt: boolean;
  ranking: boolean;
  /** Anneal column -> file column. */
  columns: Record<string, string>;
  roleTag: string;
  contentTag: string;
  /** File role value -> ShareGPT `from` value. */
  roleValues: Record<string, string>;
  /** Map a path in the canonical record to the path in the file's record. */
  originalPath(path: JsonPath): JsonPath;
}

/** Build the mapping for one dataset_info entry. */
export function makeCanonicalizer(entry: DatasetInfoEntry): Canonicalizer {
  const sharegpt = entry.formatting === 'sharegpt';
  const ranking = entry.ranking === true;
  const col = entry.columns ?? {};
  const tags = entry.tags ?? {};
  const columns: Record<string, string> = sharegpt
    ? { conversations: col.messages ?? 'conversations', system: col.system ?? 'system', tools: col.tools ?? 'tools' }
    : { instruction: col.prompt ?? 'instruction', input: col.query ?? 'input', output: col.response ?? 'output', system: col.system ?? 'system', history: col.history ?? 'history' };
  columns.chosen = col.chosen ?? 'chosen';
  columns.rejected = col.rejected ?? 'rejected';
  if (ranking) columns.prompt = sharegpt ? columns.conversations : columns.instruction;
  const roleTag = tags.role_tag ?? 'from';
  const contentTag = tags.content_tag ?? 'value';
  const roleValues: Record<string, string> = {};
  const tagNames: [string, string][] = [['user_tag', 'human'], ['assistant_tag', 'gpt'], ['observation_tag', 'observation'], ['function_tag', 'function_call'], ['system_tag', 'system']];
  for (const [tag, from] of tagNames) roleValues[tags[tag] ?? from] = from;
  const messageKey = (k: string | number) => (k === 'from' || k === 'role' ? roleTag : k === 'value' || k === 'content' ? contentTag : k);
  return {
    sharegpt,
    ranking,
    columns,
    roleTag,
    contentTag,
    roleValues,
    originalPath(path) {
      if (path.length === 0) return path;
      const [head, ...rest] = path;
      const top = typeof head === 'string' ? (columns[head] ?? head) : head;
      if (!sharegpt) return ranking && head === 'prompt' ? [top] : [top, ...rest];
      if (ranking && (head === 'chosen' || head === 'rejected')) return rest.length >= 2 ? [top, messageKey(rest[1])] : [top];
      if (head === 'conversations' || head === 'prompt') return rest.length >= 2 ? [top, rest[0], messageKey(rest[1]), ...rest.slice(2)] : [top, ...rest];
      return [top, ...rest];
    },
  };
}

function mapTurn(turn: unknown, c: Canonicalizer): unknown {
  if (!isObject(turn)) return turn;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(turn)) {
    if (k === c.roleTag) out.from = typeof v === 'string' ? (c.roleValues[v] ?? v) : v;
    else if (k === c.contentTag) out.value = v;
    else out[k] = v;
  }
  return out;
}

function turnToMessage(turn: unknown): unknown {
  if (!isObject(turn) || typeof turn.from !== 'string') return turn;
  return { role: SHAREGPT_ROLES[turn.from] ?? turn.from, content: turn.value };
}

/** The record in Anneal's spelling (alpaca/sharegpt/preference fields). */
export function canonicalize(record: JsonObject, c: Canonicalizer): JsonObject {
  const get = (canonical: string) => record[c.columns[canonical]];
  const has = (canonical: string) => c.columns[canonical] in record;
  const out: JsonObject = {};
  const mapped = new Set(Object.values(c.columns));
  for (const [k, v] of Object.entries(record)) if (!mapped.has(k)) out[k] = v;
  if (c.ranking) {
    if (c.sharegpt) {
      const turns = get('conversations');
      if (has('conversations')) out.prompt = Array.isArray(turns) ? turns.map((t) => turnToMessage(mapTurn(t, c))) : turns;
      for (const k of ['chosen', 'rejected']) if (has(k)) out[k] = [turnToMessage(mapTurn(get(k), c))];
    } else {
      const instruction = get('instruction');
      const input = get('input');
      if (has('instruction')) out.prompt = typeof instruction === 'string' && typeof input === 'string' && input ? `${instruction}\n${input}` : instruction;
      for (const k of ['chosen', 'rejected']) if (has(k)) out[k] = get(k);
    }
    return out;
  }
  for (const canonical of Object.keys(c.columns)) {
    if (!has(canonical)) continue;
    const v = get(canonical);
    out[canonical] = canonical === 'conversations' && Array.isArray(v) ? v.map((t) => mapTurn(t, c)) : v;
  }
  return out;
}

/** The dataset_info.json entry describing `dataPath`, from the same folder; undefined when none. */
export function findDatasetInfo(dataPath: string, files: FileAccess): DatasetInfoEntry | undefined {
  const slash = Math.max(dataPath.lastIndexOf('/'), dataPath.lastIndexOf('\\'));
  const dir = slash >= 0 ? dataPath.slice(0, slash) : '.';
  const base = dataPath.slice(slash + 1);
  const text = files.readText(`${dir}/dataset_info.json`);
  if (text === undefined) return undefined;
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(info)) return undefined;
  for (const entry of Object.values(info)) {
    if (isObject(entry) && entry.file_name === base) return entry as DatasetInfoEntry;
  }
  return undefined;
}
