// The model's Jinja chat template, rendered with the variables Hugging Face's apply_chat_template
// provides, so a conversation renders to the same text here as in transformers.

import { Template } from '@huggingface/jinja';
import type { Message } from '../datasets/types.ts';

/** A generic ChatML template, used only when a tokenizer ships none (base models). */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** Special-token strings the template may read (`bos_token`, `eos_token`, ...). */
export type SpecialTokenStrings = Record<string, string | string[] | null>;

export interface ChatRenderer {
  render(messages: Message[], addGenerationPrompt: boolean): string;
}

const STRIPS = ['strip', 'lstrip', 'rstrip'] as const;
type StripKind = (typeof STRIPS)[number];

/** Python's str.strip / lstrip / rstrip with an optional set of characters. */
function pyStrip(kind: StripKind, value: unknown, chars: unknown): string {
  if (typeof value !== 'string') throw new Error(`${kind}() needs a string, got ${value === undefined ? 'undefined' : typeof value}`);
  const set = typeof chars === 'string' ? new Set(chars) : undefined;
  const strip = (ch: string) => (set ? set.has(ch) : /\s/.test(ch));
  const cps = [...value];
  let a = 0;
  let b = cps.length;
  if (kind !== 'rstrip') while (a < b && strip(cps[a])) a++;
  if (kind !== 'lstrip') while (b > a && strip(cps[b - 1])) b--;
  return cps.slice(a, b).join('');
}

/**
 * @huggingface/jinja 0.5.11 ignores the argument of `s.strip(chars)` / `lstrip` / `rstrip` and strips
 * whitespace instead (Qwen3's `content.lstrip('\n')` then eats leading spaces that transformers keeps).
 * Rewrite those calls in the parsed template into calls of helpers with Python's semantics. The
 * interpreter dispatches on each node's `type` string, so plain objects are valid nodes.
 */
function fixStripCalls(node: unknown): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach(fixStripCalls);
    return;
  }
  const n = node as Record<string, any>;
  for (const value of Object.values(n)) fixStripCalls(value);
  const callee = n.callee;
  if (
    n.type === 'CallExpression' &&
    callee?.type === 'MemberExpression' &&
    !callee.computed &&
    callee.property?.type === 'Identifier' &&
    STRIPS.includes(callee.property.value) &&
    Array.isArray(n.args) &&
    n.args.length === 1
  ) {
    n.args = [callee.object, n.args[0]];
    n.callee = { type: 'Identifier', value: `__anneal_${callee.property.value}` };
  }
}

const stripHelpers = Object.fromEntries(
  STRIPS.map((kind) => [`__anneal_${kind}`, (value: unknown, chars: unknown) => pyStrip(kind, value, chars)]),
);

/** Compile a chat template once; rendering errors carry the template's own message. */
export function compileChatTemplate(source: string, specials: SpecialTokenStrings): ChatRenderer {
  let template: Template;
  try {
    template = new Template(source);
    fixStripCalls(template.parsed);
  } catch (err) {
    throw new Error(`The chat template does not parse (${(err as Error).message}); fix chat_template in tokenizer_config.json.`);
  }
  return {
    render(messages, addGenerationPrompt) {
      return template.render({
        ...stripHelpers,
        ...specials,
        messages,
        add_generation_prompt: addGenerationPrompt,
        // transformers passes None for these when the caller gives none.
        tools: null,
        documents: null,
      });
    },
  };
}

/** The chat template text from tokenizer_config.json: a string, or the named-list form (`default`). */
export function pickChatTemplate(config: Record<string, unknown>): string | undefined {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const chosen = named.find((e) => e?.name === 'default') ?? named[0];
    if (typeof chosen?.template === 'string') return chosen.template;
  }
  return undefined;
}
