// JSON rewards: the completion (or its last ```json fenced block) parses, and optionally matches a JSON
// Schema (ajv; draft-07, or 2020-12 when the schema's $schema says so).

import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { columnValues, completionTexts } from './text.ts';
import type { BuiltinReward, RewardConfig, RewardContext, RewardOptionProblem, RewardValues } from './types.ts';

const FENCE = /```[ \t]*([\w+-]*)[ \t]*\r?\n([\s\S]*?)```/g;

/** The JSON text of a completion: its last ```json block, else its last untagged ``` block, else the whole text, trimmed. */
export function jsonText(text: string): string {
  let json: string | undefined;
  let plain: string | undefined;
  for (const m of text.matchAll(FENCE)) {
    if (m[1].toLowerCase() === 'json' || m[1].toLowerCase() === 'jsonc') json = m[2];
    else if (m[1] === '') plain = m[2];
  }
  return (json ?? plain ?? text).trim();
}

/** The parsed value, or undefined when the text is not JSON. */
export function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(jsonText(text)) };
  } catch {
    return undefined;
  }
}

// User schemas may carry keywords ajv does not know (titles, examples, vendor keys) and formats we ship
// no validators for: strict mode off, formats not enforced.
const draft7 = new Ajv({ strict: false, validateFormats: false, allErrors: false });
const draft2020 = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
const compiledSchemas = new Map<string, ValidateFunction>();

/** A validator for a JSON Schema object; throws with ajv's message when the schema is invalid. */
export function compileSchema(schema: object): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiledSchemas.get(key);
  if (!validate) {
    const $schema = (schema as { $schema?: unknown }).$schema;
    const ajv = typeof $schema === 'string' && $schema.includes('2020-12') ? draft2020 : draft7;
    // ajv caches by $id; compiling two different schemas with one $id would throw, so ids are dropped.
    const { $id: _id, ...rest } = schema as Record<string, unknown>;
    validate = ajv.compile(rest);
    compiledSchemas.set(key, validate);
  }
  return validate;
}

/** Why a schema cannot be used, or undefined. */
export function schemaProblem(schema: unknown): string | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'a JSON Schema must be an object, e.g. {type: object, required: [name]}.';
  try {
    compileSchema(schema);
    return undefined;
  } catch (err) {
    return `the JSON Schema is invalid: ${(err as Error).message}.`;
  }
}

/** The schema object a json_schema reward uses: inline `schema`, else `schema_file` read through the context. */
function loadSchema(config: RewardConfig, context: RewardContext): { schema?: unknown; problem?: RewardOptionProblem } {
  const o = config.options ?? {};
  if (o.schema !== undefined) return { schema: o.schema };
  if (typeof o.schema_file !== 'string') return {};
  const path = context.resolvePath ? context.resolvePath(o.schema_file) : o.schema_file;
  const text = context.readText?.(path);
  if (text === undefined) return { problem: { key: 'schema_file', kind: 'invalid-value', message: `JSON Schema file \`${o.schema_file}\` not found (looked in ${path}); fix the path.` } };
  try {
    return { schema: JSON.parse(text) };
  } catch (err) {
    return { problem: { key: 'schema_file', kind: 'invalid-value', message: `\`${o.schema_file}\` is not JSON (${(err as Error).message}); fix the file.` } };
  }
}

export const jsonValid: BuiltinReward = {
  name: 'json_valid',
  aliases: ['valid_json'],
  description: 'Valid JSON: 1 when the completion — or its last ```json fenced block — parses as JSON, else 0.',
  options: {},
  create(config: RewardConfig) {
    return (inputs): RewardValues => completionTexts(inputs, config.name).map((text) => (parseJson(text) ? 1 : 0));
  },
};

export const jsonSchema: BuiltinReward = {
  name: 'json_schema',
  aliases: [],
  description:
    'JSON matching a schema: 1 when the completion (or its last ```json block) parses and validates against `schema` (inline), `schema_file` (a .json file beside the recipe) or, with `column`, each row\'s schema; 0 otherwise.',
  column: { description: 'a per-row JSON Schema (an object, or its JSON text), used instead of `schema`' },
  options: {
    schema: { type: 'object', description: 'The JSON Schema, written inline.' },
    schema_file: { type: 'string', minLength: 1, description: 'A JSON Schema file, relative to the recipe.' },
  },
  validate(config: RewardConfig, context: RewardContext): RewardOptionProblem[] {
    const o = config.options ?? {};
    if (o.schema !== undefined && o.schema_file !== undefined) return [{ key: 'schema_file', kind: 'invalid-value', message: 'json_schema takes `schema` or `schema_file`, not both; remove one.' }];
    if (o.schema === undefined && o.schema_file === undefined && config.column === undefined) {
      return [{ kind: 'invalid-value', message: 'json_schema needs a schema: set `schema` or `schema_file` in its options, or `column` to a column of schemas.' }];
    }
    if (o.schema_file !== undefined && !context.readText) return [];
    const { schema, problem } = loadSchema(config, context);
    if (problem) return [problem];
    if (schema === undefined) return [];
    const why = schemaProblem(schema);
    return why ? [{ key: o.schema !== undefined ? 'schema' : 'schema_file', kind: 'invalid-value', message: why }] : [];
  },
  create(config: RewardConfig, context: RewardContext) {
    const { schema, problem } = loadSchema(config, context);
    if (problem) throw new Error(problem.message);
    const fixed = schema !== undefined ? compileSchema(schema as object) : undefined;
    const rowValidator = (s: unknown): ValidateFunction | undefined => {
      let value = s;
      if (typeof s === 'string') {
        try {
          value = JSON.parse(s);
        } catch {
          return undefined;
        }
      }
      return schemaProblem(value) ? undefined : compileSchema(value as object);
    };
    return (inputs): RewardValues => {
      const texts = completionTexts(inputs, config.name);
      const schemas = config.column !== undefined ? columnValues(inputs, config.column, texts.length, config.name) : undefined;
      return texts.map((text, i) => {
        const validate = schemas ? rowValidator(schemas[i]) : fixed;
        if (!validate) return null;
        const parsed = parseJson(text);
        return parsed && validate(parsed.value) ? 1 : 0;
      });
    };
  },
};
