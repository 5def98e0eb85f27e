// LLaMA-Factory `dataset_info.json` support. An entry describes one file: its `formatting` (alpaca,
// sharegpt or openai), whether it holds ranked pairs (`ranking`), KTO labels (`columns.kto_tag`) or
// pre-training text (an alpaca entry that only names a `prompt` column), and how its columns and
// ShareGPT tags are spelt. Each record is rewritten into the shape Anneal checks and trains for the
// same meaning, and every diagnostic path is mapped back to the file's own keys, so ranges stay exact.
//
// The editor, `anneal validate`, the recipe checks and the trainer all get their options through
// `datasetOptionsFor`, so the three agree on every file described by a dataset_info.json.

import type { FileAccess } from '../fileAccess.ts';
import type { JsonObject } from './detect.ts';
import type { JsonPath } from './jsonPositions.ts';
import { isObject, SHAREGPT_ROLES } from './normalize.ts';
import type { DatasetCheckOptions, DatasetInfoEntry } from './types.ts';

/** Media columns LLaMA-Factory reads; a text trainer leaves them aside, so they are known, never unknown-field. */
const MEDIA = ['images', 'videos', 'audios'] as const;

export interface Canonicalizer {
  formatting: 'alpaca' | 'sharegpt' | 'openai';
  ranking: boolean;
  /** The column holding KTO's boolean label, when the entry names one. */
  ktoColumn: string | undefined;
  /** An alpaca entry naming only the prompt column: pre-training text (LLaMA-Factory's `pt` data). */
  pretraining: boolean;
  /** LLaMA-Factory's column name -> the file's column name (defaults filled in). */
  columns: Record<string, string>;
  roleTag: string;
  contentTag: string;
  /** File role value -> ShareGPT `from` value. */
  roleValues: Record<string, string>;
}

/** A record in Anneal's spelling, and how to find a canonical path in the file's own record. */
export interface CanonicalRecord {
  record: JsonObject;
  originalPath(path: JsonPath): JsonPath;
}

/** Build the mapping for one dataset_info entry. */
export function makeCanonicalizer(entry: DatasetInfoEntry): Canonicalizer {
  const formatting = entry.formatting === 'sharegpt' || entry.formatting === 'openai' ? entry.formatting : 'alpaca';
  const col = isObject(entry.columns) ? (entry.columns as Record<string, string>) : {};
  const tags = isObject(entry.tags) ? (entry.tags as Record<string, string>) : {};
  const ranking = entry.ranking === true;
  const ktoColumn = typeof col.kto_tag === 'string' ? col.kto_tag : undefined;
  const columns: Record<string, string> = {
    prompt: col.prompt ?? 'instruction',
    query: col.query ?? 'input',
    response: col.response ?? 'output',
    history: col.history ?? 'history',
    system: col.system ?? 'system',
    tools: col.tools ?? 'tools',
    messages: col.messages ?? (formatting === 'openai' ? 'messages' : 'conversations'),
    chosen: col.chosen ?? 'chosen',
    rejected: col.rejected ?? 'rejected',
  };
  for (const media of MEDIA) columns[media] = col[media] ?? media;
  const pretraining = formatting === 'alpaca' && !ranking && !ktoColumn && col.prompt !== undefined && ['query', 'response', 'history', 'messages', 'chosen', 'rejected'].every((k) => col[k] === undefined);
  const roleValues: Record<string, string> = {};
  const tagNames: [string, string][] = [['user_tag', 'human'], ['assistant_tag', 'gpt'], ['observation_tag', 'observation'], ['function_tag', 'function_call'], ['system_tag', 'system']];
  for (const [tag, from] of tagNames) roleValues[tags[tag] ?? from] = from;
  return { formatting, ranking, ktoColumn, pretraining, columns, roleTag: tags.role_tag ?? 'from', contentTag: tags.content_tag ?? 'value', roleValues };
}

/** Keys of the record that no mapping consumed, plus media columns under their canonical names. */
function carryOver(record: JsonObject, c: Canonicalizer, used: string[]): JsonObject {
  const out: JsonObject = {};
  const consumed = new Set(used.map((k) => (k === 'label' ? c.ktoColumn : c.columns[k])).filter((k): k is string => k !== undefined));
  const media = new Map(MEDIA.map((m) => [c.columns[m], m]));
  for (const [k, v] of Object.entries(record)) {
    if (consumed.has(k)) continue;
    out[media.get(k) ?? k] = v;
  }
  return out;
}

/** A top-level canonical key -> the file's column (media and unmapped keys keep their place). */
function topColumn(c: Canonicalizer, key: string | number): string | number {
  if (typeof key !== 'string') return key;
  if (key === 'label') return c.ktoColumn ?? key;
  if ((MEDIA as readonly string[]).includes(key)) return c.columns[key];
  return key;
}

/** The record in Anneal's spelling, with the way back for diagnostic paths. */
export function canonicalize(record: JsonObject, c: Canonicalizer): CanonicalRecord {
  if (c.formatting === 'alpaca') return canonicalAlpaca(record, c);
  if (c.formatting === 'openai') return canonicalOpenAi(record, c);
  return canonicalShareGpt(record, c);
}

function canonicalOpenAi(record: JsonObject, c: Canonicalizer): CanonicalRecord {
  const renames: Record<string, string> = { messages: c.columns.messages, chosen: c.columns.chosen, rejected: c.columns.rejected, tools: c.columns.tools, system: c.columns.system };
  const out = carryOver(record, c, [...Object.keys(renames), ...(c.ktoColumn ? ['label'] : [])]);
  for (const [canonical, column] of Object.entries(renames)) if (column in record) out[canonical] = record[column];
  if (c.ktoColumn && c.ktoColumn in record) out.label = record[c.ktoColumn];
  return {
    record: out,
    originalPath: ([head, ...rest]) => (head === undefined ? [] : [typeof head === 'string' && renames[head] ? renames[head] : topColumn(c, head), ...rest]),
  };
}

/** The user turn of an alpaca record: the instruction, then the input on its own line. */
function alpacaPrompt(record: JsonObject, c: Canonicalizer): unknown {
  const instruction = record[c.columns.prompt];
  const input = record[c.columns.query];
  return typeof instruction === 'string' && typeof input === 'string' && input ? `${instruction}\n${input}` : instruction;
}

/** system + history + the instruction as messages (what LLaMA-Factory's template renders before the answer). */
function alpacaPromptMessages(record: JsonObject, c: Canonicalizer): { messages: unknown[]; historyTurns: number; system: boolean } {
  const messages: unknown[] = [];
  const system = record[c.columns.system];
  const hasSystem = typeof system === 'string' && system !== '';
  if (hasSystem) messages.push({ role: 'system', content: system });
  const history = record[c.columns.history];
  let historyTurns = 0;
  if (Array.isArray(history)) {
    for (const pair of history) {
      if (Array.isArray(pair) && pair.length === 2) {
        messages.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
        historyTurns += 2;
      }
    }
  }
  messages.push({ role: 'user', content: alpacaPrompt(record, c) });
  return { messages, historyTurns, system: hasSystem };
}

function canonicalAlpaca(record: JsonObject, c: Canonicalizer): CanonicalRecord {
  const cols = c.columns;
  if (c.pretraining && !(cols.response in record)) {
    const out = carryOver(record, c, ['prompt']);
    if (cols.prompt in record) out.text = record[cols.prompt];
    return { record: out, originalPath: ([head, ...rest]) => (head === undefined ? [] : [head === 'text' ? cols.prompt : topColumn(c, head), ...rest]) };
  }
  if (c.ranking || c.ktoColumn) {
    // Conversational pairs / KTO examples: LLaMA-Factory renders the instruction through the chat template.
    const out = carryOver(record, c, ['prompt', 'query', 'system', 'history', 'chosen', 'rejected', 'response', ...(c.ktoColumn ? ['label'] : [])]);
    const prompt = alpacaPromptMessages(record, c);
    const wrapped = new Set<string>();
    const reply = (key: string, column: string) => {
      if (!(column in record)) return;
      const v = record[column];
      if (Array.isArray(v)) out[key] = v;
      else {
        out[key] = [{ role: 'assistant', content: v }];
        wrapped.add(key);
      }
    };
    if (cols.prompt in record) out.prompt = prompt.messages;
    if (c.ranking) {
      reply('chosen', cols.chosen);
      reply('rejected', cols.rejected);
    } else {
      reply('completion', cols.response);
      if (c.ktoColumn! in record) out.label = record[c.ktoColumn!];
    }
    const replyColumn: Record<string, string> = { chosen: cols.chosen, rejected: cols.rejected, completion: cols.response };
    return {
      record: out,
      originalPath: ([head, ...rest]) => {
        if (head === undefined) return [];
        if (head === 'prompt') {
          const i = typeof rest[0] === 'number' ? rest[0] - (prompt.system ? 1 : 0) : -1;
          if (prompt.system && rest[0] === 0) return [cols.system];
          if (i >= 0 && i < prompt.historyTurns) return [cols.history, Math.floor(i / 2), i % 2];
          return [cols.prompt];
        }
        if (typeof head === 'string' && replyColumn[head]) return wrapped.has(head) ? [replyColumn[head]] : [replyColumn[head], ...rest];
        return [topColumn(c, head), ...rest];
      },
    };
  }
  const names: Record<string, string> = { instruction: cols.prompt, input: cols.query, output: cols.response, system: cols.system, history: cols.history, tools: cols.tools };
  const out = carryOver(record, c, ['prompt', 'query', 'response', 'system', 'history', 'tools']);
  for (const [canonical, column] of Object.entries(names)) if (column in record) out[canonical] = record[column];
  return { record: out, originalPath: ([head, ...rest]) => (head === undefined ? [] : [typeof head === 'string' && names[head] ? names[head] : topColumn(c, head), ...rest]) };
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

function canonicalShareGpt(record: JsonObject, c: Canonicalizer): CanonicalRecord {
  const cols = c.columns;
  const messageKey = (k: string | number) => (k === 'from' || k === 'role' ? c.roleTag : k === 'value' || k === 'content' ? c.contentTag : k);
  const turnPath = (column: string, rest: JsonPath): JsonPath => (rest.length >= 2 ? [column, rest[0], messageKey(rest[1]), ...rest.slice(2)] : [column, ...rest]);
  if (c.ranking) {
    const out = carryOver(record, c, ['messages', 'system', 'chosen', 'rejected']);
    const system = record[cols.system];
    const hasSystem = typeof system === 'string' && system !== '';
    const turns = record[cols.messages];
    if (cols.messages in record) {
      out.prompt = Array.isArray(turns) ? [...(hasSystem ? [{ role: 'system', content: system }] : []), ...turns.map((t) => turnToMessage(mapTurn(t, c)))] : turns;
    }
    const wrapped = new Set<string>();
    for (const k of ['chosen', 'rejected'] as const) {
      if (!(cols[k] in record)) continue;
      const v = record[cols[k]];
      if (Array.isArray(v)) out[k] = v.map((t) => turnToMessage(mapTurn(t, c)));
      else {
        out[k] = [turnToMessage(mapTurn(v, c))];
        wrapped.add(k);
      }
    }
    return {
      record: out,
      originalPath: ([head, ...rest]) => {
        if (head === undefined) return [];
        if (head === 'prompt') {
          if (hasSystem && Array.isArray(turns) && rest[0] === 0) return [cols.system];
          return turnPath(cols.messages, typeof rest[0] === 'number' && hasSystem && Array.isArray(turns) ? [rest[0] - 1, ...rest.slice(1)] : rest);
        }
        if (head === 'chosen' || head === 'rejected') return wrapped.has(head) ? (rest.length >= 2 ? [cols[head], messageKey(rest[1])] : [cols[head]]) : turnPath(cols[head], rest);
        return [topColumn(c, head), ...rest];
      },
    };
  }
  const out = carryOver(record, c, ['messages', 'system', 'tools', ...(c.ktoColumn ? ['label'] : [])]);
  if (cols.messages in record) {
    const v = record[cols.messages];
    out.conversations = Array.isArray(v) ? v.map((t) => mapTurn(t, c)) : v;
  }
  if (cols.system in record) out.system = record[cols.system];
  if (cols.tools in record) out.tools = record[cols.tools];
  if (c.ktoColumn && c.ktoColumn in record) out.label = record[c.ktoColumn];
  return {
    record: out,
    originalPath: ([head, ...rest]) => {
      if (head === undefined) return [];
      if (head === 'conversations') return turnPath(cols.messages, rest);
      if (head === 'system' || head === 'tools') return [cols[head], ...rest];
      return [topColumn(c, head), ...rest];
    },
  };
}

/** The folder of a path, and its last component. */
function splitPath(path: string): { dir: string; base: string } {
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return { dir: slash >= 0 ? path.slice(0, slash) : '.', base: path.slice(slash + 1) };
}

/** The dataset_info.json entry describing `dataPath`, from the same folder; undefined when none. */
export function findDatasetInfo(dataPath: string, files: FileAccess): DatasetInfoEntry | undefined {
  const { dir, base } = splitPath(dataPath);
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
    if (isObject(entry) && typeof entry.file_name === 'string' && entry.file_name.replace(/^\.\//, '') === base) return entry as DatasetInfoEntry;
  }
  return undefined;
}

/**
 * The check options for the data file at `dataPath`: `base` plus the dataset_info.json entry beside it.
 * Every reader of a data file (editor, CLI, recipe checks, trainer) goes through here.
 */
export function datasetOptionsFor(dataPath: string, files: FileAccess, base: DatasetCheckOptions = {}): DatasetCheckOptions {
  if (base.datasetInfo) return base;
  const datasetInfo = findDatasetInfo(dataPath, files);
  return datasetInfo ? { ...base, datasetInfo } : base;
}
