// An Ollama Modelfile whose TEMPLATE (Go text/template over `.Messages`) renders conversations the way
// the model's Jinja chat template does, so `ollama create` talks in the format training used.
//
// Jinja cannot be translated to Go templates in general, so the template is measured instead: the
// Jinja template renders probe conversations with marker contents, and from where the markers land
// we read a turn format (a prelude, each role's prefix and suffix around its content, the generation
// prompt, a default system prompt the template adds when none is given). That format is then checked
// against the Jinja renders of more conversations; only a format that reproduces all of them becomes
// a TEMPLATE. A template that does something else (dates, tool calls, content rewriting) gets a
// Modelfile without TEMPLATE and a note saying so: Ollama then uses the GGUF's own template metadata.
import type { ChatTokenizer } from '../../core/tokenize/types.ts';
import type { Message } from '../../core/datasets/types.ts';

/** A chat format of plain turns: what the Jinja template was measured to do. */
export interface TurnFormat {
  /** Text before the first turn (a BOS written by the template). */
  prelude: string;
  prefix: Record<'system' | 'user' | 'assistant', string>;
  suffix: Record<'system' | 'user' | 'assistant', string>;
  /** What add_generation_prompt appends. */
  generation: string;
  /** The system prompt the template inserts when a conversation has none. */
  defaultSystem?: string;
}

type Render = (messages: Message[], addGenerationPrompt: boolean) => string;

const M = { sys: 'qZsYs7', u1: 'qZuSr1', a1: 'qZaSt1', u2: 'qZuSr2', a2: 'qZaSt2', u3: 'qZuSr3' };
const msg = (role: Message['role'], content: string): Message => ({ role, content }) as Message;

/** `text` split around each marker, in order; undefined when a marker is missing or out of order. */
function around(text: string, markers: string[]): string[] | undefined {
  const parts: string[] = [];
  let at = 0;
  for (const m of markers) {
    const i = text.indexOf(m, at);
    if (i < 0 || text.indexOf(m, i + 1) >= 0) return undefined;
    parts.push(text.slice(at, i));
    at = i + m.length;
  }
  parts.push(text.slice(at));
  return parts;
}

const dropPrefix = (s: string, p: string) => (s.startsWith(p) ? s.slice(p.length) : undefined);
const dropSuffix = (s: string, p: string) => (s.endsWith(p) ? s.slice(0, s.length - p.length) : undefined);

/**
 * Reads a turn format off the template's renders, or undefined when it is not one. `bos`: the BOS
 * token's text, taken as the prelude when the template writes it before the first turn.
 */
export function measureTurnFormat(render: Render, bos?: string): TurnFormat | undefined {
  try {
    const u = render([msg('user', M.u1)], false);
    const ug = render([msg('user', M.u1)], true);
    const generation = dropPrefix(ug, u);
    // [user, assistant]: what follows an assistant's content when it ends the conversation.
    const ua = around(render([msg('user', M.u1), msg('assistant', M.a1)], false), [M.u1, M.a1]);
    // [user, assistant, user] and the same after a system message.
    const plain = around(render([msg('user', M.u1), msg('assistant', M.a1), msg('user', M.u2)], false), [M.u1, M.a1, M.u2]);
    const sys = around(render([msg('system', M.sys), msg('user', M.u1), msg('assistant', M.a1), msg('user', M.u2)], false), [M.sys, M.u1, M.a1, M.u2]);
    if (generation === undefined || !ua || !plain || !sys) return undefined;
    const userSuffix = plain[3]!;
    const assistantSuffix = ua[2]!;
    const assistantPrefix = dropPrefix(plain[1]!, userSuffix);
    const userPrefix = dropPrefix(plain[2]!, assistantSuffix);
    if (assistantPrefix === undefined || userPrefix === undefined) return undefined;
    const systemSuffix = dropSuffix(sys[1]!, userPrefix);
    if (systemSuffix === undefined) return undefined;
    const lead = plain[0]!; // before the first user turn when there is no system message
    const systemLead = sys[0]!; // prelude + system prefix
    const tail = systemSuffix + userPrefix;
    let prelude: string | undefined;
    let defaultSystem: string | undefined;
    if (lead !== userPrefix && lead.startsWith(systemLead) && lead.endsWith(tail) && lead.length >= systemLead.length + tail.length) {
      // The template adds a system turn of its own. The system turn then always comes first, so the
      // prelude and the system prefix always appear together: only a BOS is told apart.
      defaultSystem = lead.slice(systemLead.length, lead.length - tail.length);
      // (SmolLM2's BOS is <|im_start|>, which opens every turn: not a prelude there.)
      prelude = bos !== undefined && bos !== '' && systemLead.startsWith(bos) && !userPrefix.startsWith(bos) ? bos : '';
    } else {
      prelude = dropSuffix(lead, userPrefix);
    }
    const systemPrefix = prelude === undefined ? undefined : dropPrefix(systemLead, prelude);
    if (prelude === undefined || systemPrefix === undefined) return undefined;
    return {
      prelude,
      prefix: { system: systemPrefix, user: userPrefix, assistant: assistantPrefix },
      suffix: { system: systemSuffix, user: userSuffix, assistant: assistantSuffix },
      generation,
      ...(defaultSystem !== undefined ? { defaultSystem } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * What the TEMPLATE of `format` renders (with SYSTEM = its default system prompt). `open` is Ollama's
 * way: the last assistant message is left open (Ollama continues it) and the generation prompt follows
 * a last message of another role; closed is the Jinja template's add_generation_prompt=False.
 */
export function renderTurnFormat(format: TurnFormat, messages: Message[], open: boolean): string {
  const all = format.defaultSystem !== undefined && messages[0]?.role !== 'system' ? [msg('system', format.defaultSystem), ...messages] : messages;
  let out = format.prelude;
  all.forEach((m, i) => {
    const role = m.role as 'system' | 'user' | 'assistant';
    const last = i === all.length - 1;
    out += format.prefix[role] + m.content;
    if (!(open && last && role === 'assistant')) out += format.suffix[role];
    if (open && last && role !== 'assistant') out += format.generation;
  });
  return out;
}

/** Conversations the measured format must reproduce. */
function probes(): Message[][] {
  return [
    [msg('user', 'Hi')],
    [msg('user', 'What is 2+2?'), msg('assistant', '4.'), msg('user', 'And 3+3?')],
    [msg('system', 'Be brief.'), msg('user', 'Hello there')],
    [msg('system', 'You are kind.'), msg('user', 'a\nb'), msg('assistant', ' c '), msg('user', 'd')],
    [msg('user', 'one'), msg('assistant', 'two'), msg('user', 'three'), msg('assistant', 'four'), msg('user', 'five')],
    [msg('system', 'S'), msg('user', 'x'), msg('assistant', 'y')],
  ];
}

/**
 * True when `format` renders every probe as the Jinja template does: closed turns as
 * add_generation_prompt=False, and a conversation ending in a user turn as add_generation_prompt=True.
 */
export function reproduces(format: TurnFormat, render: Render): boolean {
  try {
    return probes().every((c) => render(c, false) === renderTurnFormat(format, c, false) && (c[c.length - 1]!.role === 'assistant' || render(c, true) === renderTurnFormat(format, c, true)));
  } catch {
    return false;
  }
}

/** Literal text for a Go template: `{{` would open an action, so it is printed by one. */
function goLiteral(text: string): string {
  return text.split('{{').join('{{ "{{" }}');
}

/**
 * The Go template (Ollama's TEMPLATE) equivalent to `format`, on one line so no whitespace is trimmed.
 * A role other than system and assistant takes the user turn's form, its role name put in where the
 * user prefix names "user" (a tool result renders as `<|im_start|>tool` in ChatML).
 */
export function goTemplate(format: TurnFormat, dropPrelude = false): string {
  const lit = goLiteral;
  const open = (prefix: string, r: 'system' | 'user') => `${prefix}{{ .Content }}${lit(format.suffix[r])}{{ if $last }}${lit(format.generation)}{{ end }}`;
  const userPrefix = format.prefix.user.split('user').length === 2 ? format.prefix.user.split('user').map(lit).join('{{ .Role }}') : lit(format.prefix.user);
  return [
    dropPrelude ? '' : lit(format.prelude),
    '{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}',
    `{{ if eq .Role "system" }}${open(lit(format.prefix.system), 'system')}`,
    `{{ else if eq .Role "assistant" }}${lit(format.prefix.assistant)}{{ .Content }}{{ if not $last }}${lit(format.suffix.assistant)}{{ end }}`,
    `{{ else }}${open(userPrefix, 'user')}{{ end }}{{ end }}`,
  ].join('');
}

/** A Modelfile string argument: Ollama reads "..." with backslash escapes. */
const quoted = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/**
 * Modelfile text for a GGUF at `from` (relative to the Modelfile), and notes for the user. `addsBos`:
 * the GGUF tells llama.cpp to put BOS before every prompt, so a BOS the template writes is left out.
 */
export function ollamaModelfile(from: string, tokenizer: ChatTokenizer, addsBos: boolean): { text: string; format?: TurnFormat; notes: string[] } {
  const notes: string[] = [];
  const render: Render = (messages, gen) => tokenizer.renderChat(messages, { addGenerationPrompt: gen });
  const bos = tokenizer.bosId !== undefined ? tokenizer.decode([tokenizer.bosId], { skipSpecial: false }) : undefined;
  const format = measureTurnFormat(render, bos);
  const ok = format !== undefined && reproduces(format, render);
  const lines = ['# Ollama Modelfile written by `anneal export`: `ollama create NAME -f Modelfile` in this folder.', `FROM ${from}`];
  if (ok) {
    // llama.cpp adds BOS itself when the GGUF says so; a template that also writes it would double it.
    const template = goTemplate(format, addsBos && bos !== undefined && format.prelude === bos);
    if (template.includes('"""') || (format.defaultSystem ?? '').includes('"""')) {
      notes.push('the chat template holds """, which a Modelfile cannot quote; the Modelfile has no TEMPLATE, so Ollama uses the GGUF\'s own template metadata');
    } else {
      lines.push(`TEMPLATE """${template}"""`);
      if (format.defaultSystem !== undefined) lines.push(`SYSTEM """${format.defaultSystem}"""`);
    }
  } else {
    notes.push('the chat template is not plain turns (prefix, content, suffix) that a Go template can mirror exactly; the Modelfile has no TEMPLATE, so Ollama uses the GGUF\'s own template metadata');
  }
  const stops = [...new Set(tokenizer.stopIds.map((id) => tokenizer.decode([id], { skipSpecial: false })).filter((s) => s !== ''))];
  for (const s of stops) lines.push(`PARAMETER stop ${quoted(s)}`);
  return { text: lines.join('\n') + '\n', ...(ok ? { format } : {}), notes };
}
