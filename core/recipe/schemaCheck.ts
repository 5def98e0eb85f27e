// JSON Schema validation (ajv, all errors) of a parsed recipe, each error mapped to the exact range
// of the offending key or value with a message that says what to write instead.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Diagnostic } from '../diagnostics.ts';
import { RECIPE_CODES, type RecipeCode } from './codes.ts';
import { keyRange, textPath, valueRange, type RecipeDocument } from './document.ts';
import { recipeSchema } from './schema.ts';
import { closest } from './suggest.ts';

type Schema = Record<string, any>;

let validator: ValidateFunction | undefined;

function validate(value: unknown): ErrorObject[] {
  if (!validator) validator = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(recipeSchema);
  return validator(value) ? [] : [...(validator.errors ?? [])];
}

/** Names people carry over from other tools (older TRL, LLaMA-Factory, Axolotl) -> where the key lives here. */
const ALIASES: Record<string, string[]> = {
  lr: ['learning_rate'],
  epochs: ['num_train_epochs'],
  num_epochs: ['num_train_epochs'],
  batch_size: ['per_device_train_batch_size'],
  micro_batch_size: ['per_device_train_batch_size'],
  train_batch_size: ['per_device_train_batch_size'],
  gradient_accumulation: ['gradient_accumulation_steps'],
  grad_accum: ['gradient_accumulation_steps'],
  max_seq_length: ['max_length'],
  cutoff_len: ['max_length'],
  sequence_len: ['max_length'],
  scheduler: ['lr_scheduler_type'],
  lr_scheduler: ['lr_scheduler_type'],
  warmup: ['warmup_steps'],
  model_name_or_path: ['model'],
  base_model: ['model'],
  dataset: ['data'],
  train_file: ['data', 'train'],
  eval_file: ['data', 'eval'],
  output: ['output_dir'],
  lora_r: ['lora', 'r'],
  lora_rank: ['lora', 'r'],
  lora_alpha: ['lora', 'alpha'],
  lora_dropout: ['lora', 'dropout'],
  lora_target_modules: ['lora', 'target_modules'],
  lora_target: ['lora', 'target_modules'],
  pref_beta: ['beta'],
  dpo_beta: ['beta'],
};

function pathOf(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function schemaAt(path: (string | number)[]): Schema | undefined {
  let s: Schema | undefined = recipeSchema;
  for (const part of path) {
    if (!s) return undefined;
    s = typeof part === 'number' ? s.items : s.properties?.[part];
  }
  return s;
}

/** How a key is named in messages: its last path segment, or `item N of x` for list items. */
function nameOf(path: (string | number)[]): string {
  const last = path[path.length - 1];
  if (typeof last === 'number') return `item ${last + 1} of \`${String(path[path.length - 2] ?? 'list')}\``;
  return `\`${String(last)}\``;
}

/** An example value as YAML flow text (`{train: data/train.jsonl}`, `[q_proj, v_proj]`, `2e-5`). */
function formatExample(example: unknown): string {
  if (typeof example === 'number') return example !== 0 && Math.abs(example) < 1e-3 ? example.toExponential() : String(example);
  if (typeof example === 'string') return /^[\w./-]+$/.test(example) ? example : JSON.stringify(example);
  if (Array.isArray(example)) return `[${example.map(formatExample).join(', ')}]`;
  if (example && typeof example === 'object') {
    return `{${Object.entries(example).map(([k, v]) => `${k}: ${formatExample(v)}`).join(', ')}}`;
  }
  return String(example);
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  string: 'a string',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
};

function describeTypes(types: string | string[]): string {
  const list = (Array.isArray(types) ? types : [types]).map((t) => TYPE_WORDS[t] ?? t);
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}` : list[0];
}

function withExample(message: string, schema: Schema | undefined): string {
  const example = schema?.examples?.[0];
  return example === undefined ? message : `${message}, e.g. ${formatExample(example)}`;
}

function diag(code: RecipeCode, message: string, range: Diagnostic['range'], data?: unknown): Diagnostic {
  return { code, severity: RECIPE_CODES[code], message, range, ...(data === undefined ? {} : { data }) };
}

function unknownKey(document: RecipeDocument, parent: (string | number)[], key: string): Diagnostic {
  const range = keyRange(document, [...parent, key]);
  const siblings = Object.keys(schemaAt(parent)?.properties ?? {}).filter((k) => k !== '$schema');
  const where = parent.length ? ` in \`${String(parent[parent.length - 1])}\`` : '';
  const alias = ALIASES[key.toLowerCase()];
  if (alias) {
    const target = alias[alias.length - 1];
    if (alias.length === 1 && parent.length === 0) {
      return diag('recipe-unknown-key', `Unknown key \`${key}\`; Anneal uses TRL's name \`${target}\`.`, range, { suggestion: target });
    }
    return diag('recipe-unknown-key', `Unknown key \`${key}\`${where}; write it as \`${target}\` under \`${alias.slice(0, -1).join('.')}\`.`, range);
  }
  const suggestion = closest(key, siblings);
  if (suggestion) {
    return diag('recipe-unknown-key', `Unknown key \`${key}\`${where}; did you mean \`${suggestion}\`?`, range, { suggestion });
  }
  return diag('recipe-unknown-key', `Unknown key \`${key}\`${where}; remove it (known keys: ${siblings.join(', ')}).`, range);
}

function toDiagnostic(document: RecipeDocument, err: ErrorObject): Diagnostic | undefined {
  const path = pathOf(err.instancePath);
  const schema = schemaAt(path);
  const name = nameOf(path);
  const params = err.params as Record<string, any>;
  switch (err.keyword) {
    case 'additionalProperties':
      return unknownKey(document, path, String(params.additionalProperty));
    case 'required': {
      const missing = String(params.missingProperty);
      const sub = schemaAt([...path, missing]);
      const where = path.length ? ` under \`${String(path[path.length - 1])}\`` : '';
      const what = sub?.description ? ` (${String(sub.description).replace(/\.$/, '')})` : '';
      return diag(
        'recipe-missing-key',
        withExample(`Add \`${missing}\`${where}${what}`, sub).replace(/, e\.g\. /, `, e.g. ${missing}: `) + '.',
        path.length ? keyRange(document, path) : keyRange(document, []),
      );
    }
    case 'type':
      return diag('recipe-wrong-type', withExample(`${name} must be ${describeTypes(params.type)}`, schema) + '.', valueRange(document, path));
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const value = valueText(document, path);
      const suggestion = value === undefined ? undefined : closest(value, allowed);
      return diag(
        'recipe-invalid-value',
        `${name} must be one of ${allowed.join(', ')}${suggestion ? `; did you mean \`${suggestion}\`?` : '.'}`,
        valueRange(document, path),
        suggestion ? { suggestion } : undefined,
      );
    }
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum': {
      const words = { minimum: 'at least', exclusiveMinimum: 'greater than', maximum: 'at most', exclusiveMaximum: 'less than' }[err.keyword];
      return diag('recipe-invalid-value', withExample(`${name} must be ${words} ${params.limit}`, schema) + '.', valueRange(document, path));
    }
    case 'minLength':
      return diag('recipe-invalid-value', withExample(`${name} must not be empty`, schema) + '.', valueRange(document, path));
    case 'minItems':
      return diag('recipe-invalid-value', withExample(`${name} needs at least one item`, schema) + '.', valueRange(document, path));
    case 'pattern':
      return diag('recipe-invalid-value', withExample(`${name} must be a list of module names or "all-linear"`, schema) + '.', valueRange(document, path));
    default:
      return diag('recipe-invalid-value', `${name} ${err.message ?? 'is not valid'}.`, valueRange(document, path));
  }
}

function valueText(document: RecipeDocument, path: (string | number)[]): string | undefined {
  let v: unknown = document.doc.toJS();
  for (const p of textPath(document, path)) v = (v as Record<string | number, unknown> | undefined)?.[p];
  return typeof v === 'string' ? v : undefined;
}

/** Schema diagnostics for the parsed recipe value. */
export function schemaDiagnostics(document: RecipeDocument, value: unknown): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const err of validate(value)) {
    const d = toDiagnostic(document, err);
    if (!d) continue;
    const key = `${d.code}:${JSON.stringify(d.range)}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}
