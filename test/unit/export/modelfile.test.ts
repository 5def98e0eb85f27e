// The Ollama Modelfile an export writes: its TEMPLATE (a Go template over .Messages) renders what the
// model's Jinja chat template renders, its SYSTEM is the default system prompt the template adds, its
// PARAMETER stop lines are the tokens Anneal stops at. Content is checked for the tiny model (ChatML)
// and a SmolLM2-style template; the TEMPLATE is also executed with Go's text/template (the engine
// Ollama renders with) when `go` is installed, and compared with the Jinja renders.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Message } from '../../../core/datasets/types.ts';
import { loadChatTokenizer } from '../../../core/tokenize/chatTokenizer.ts';
import { tinyTokenizer, tinyTokenizerFiles } from '../../../core/tokenize/tiny.ts';
import type { ChatTokenizer } from '../../../core/tokenize/types.ts';
import { measureTurnFormat, ollamaModelfile, renderTurnFormat } from '../../../daemon/export/modelfile.ts';

/** SmolLM2-135M-Instruct's chat template: ChatML with a default system turn. */
const SMOLLM2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** A Llama-3-style template that writes BOS and trims every content (not plain turns). */
const TRIMMING_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] | trim + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** The same without trim: plain turns after a BOS. */
const BOS_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** The tiny vocabulary with another chat template (and optionally a BOS token). */
function withTemplate(template: string, bos?: string): ChatTokenizer {
  const { tokenizerJson, tokenizerConfig } = tinyTokenizerFiles();
  return loadChatTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template: template, ...(bos ? { bos_token: bos } : {}) });
}

const CHATML_GO =
  '{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}' +
  '{{ if eq .Role "system" }}<|im_start|>system\n{{ .Content }}<|im_end|>\n{{ if $last }}<|im_start|>assistant\n{{ end }}' +
  '{{ else if eq .Role "assistant" }}<|im_start|>assistant\n{{ .Content }}{{ if not $last }}<|im_end|>\n{{ end }}' +
  '{{ else }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ if $last }}<|im_start|>assistant\n{{ end }}{{ end }}{{ end }}';

const TEMPLATE_LINE = /^TEMPLATE """([\s\S]*?)"""$/m;

const conversations: Message[][] = [
  [{ role: 'user', content: 'Who are you?' }],
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
  [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b {{ not a template }}' }, { role: 'user', content: ' c\nd ' }],
];

describe('Ollama Modelfile', () => {
  test('tiny (ChatML): TEMPLATE, no SYSTEM, the stop tokens Anneal stops at', () => {
    const { text, notes } = ollamaModelfile('./tiny-f16.gguf', tinyTokenizer(), false);
    assert.deepEqual(notes, []);
    assert.equal(
      text,
      [
        '# Ollama Modelfile written by `anneal export`: `ollama create NAME -f Modelfile` in this folder.',
        'FROM ./tiny-f16.gguf',
        `TEMPLATE """${CHATML_GO}"""`,
        'PARAMETER stop "<|im_end|>"',
        'PARAMETER stop "<|endoftext|>"',
        '',
      ].join('\n'),
    );
  });

  test('SmolLM2: the template\'s default system prompt becomes SYSTEM', () => {
    // Its tokenizer names <|im_start|> as BOS: not a prelude, since every turn opens with it.
    const { text, format } = ollamaModelfile('./m.gguf', withTemplate(SMOLLM2_TEMPLATE, '<|im_start|>'), false);
    assert.equal(format?.defaultSystem, 'You are a helpful AI assistant named SmolLM, trained by Hugging Face');
    assert.equal(format?.prelude, '');
    assert.match(text, /^SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""$/m);
    assert.equal(TEMPLATE_LINE.exec(text)?.[1], CHATML_GO);
  });

  test('a BOS the template writes is left to llama.cpp when the GGUF adds it, kept otherwise', () => {
    const tok = withTemplate(BOS_TEMPLATE, '<|endoftext|>');
    assert.equal(measureTurnFormat((m, g) => tok.renderChat(m, { addGenerationPrompt: g }), '<|endoftext|>')?.prelude, '<|endoftext|>');
    assert.equal(TEMPLATE_LINE.exec(ollamaModelfile('./m.gguf', tok, true).text)?.[1], CHATML_GO);
    assert.equal(TEMPLATE_LINE.exec(ollamaModelfile('./m.gguf', tok, false).text)?.[1], `<|endoftext|>${CHATML_GO}`);
  });

  test('a template that rewrites contents gets no TEMPLATE, and says why', () => {
    const { text, notes } = ollamaModelfile('./m.gguf', withTemplate(TRIMMING_TEMPLATE, '<|endoftext|>'), false);
    assert.doesNotMatch(text, /TEMPLATE/);
    assert.match(notes.join(' '), /not plain turns/);
    assert.match(text, /^PARAMETER stop "<\|im_end\|>"$/m);
  });

  test('the measured turn format renders what the Jinja template renders', () => {
    for (const template of [SMOLLM2_TEMPLATE, BOS_TEMPLATE]) {
      const tok = withTemplate(template, '<|endoftext|>');
      const format = measureTurnFormat((m, g) => tok.renderChat(m, { addGenerationPrompt: g }))!;
      for (const c of conversations) assert.equal(renderTurnFormat(format, c, true), tok.renderChat(c, { addGenerationPrompt: true }));
    }
  });

  describe('executed by Go text/template (what Ollama renders with)', () => {
    const work = mkdtempSync(join(tmpdir(), 'anneal-modelfile-'));
    after(() => rmSync(work, { recursive: true, force: true }));
    const go = spawnSync('go', ['version'], { encoding: 'utf8' });
    const program = join(work, 'render.go');
    // Ollama's part: a Modelfile SYSTEM becomes the first message when a conversation has none.
    writeFileSync(
      program,
      `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

type Message struct {
	Role    string \`json:"role"\`
	Content string \`json:"content"\`
}

func main() {
	source, _ := os.ReadFile(os.Args[1])
	tmpl := template.Must(template.New("m").Parse(string(source)))
	var input struct {
		System        string      \`json:"system"\`
		Conversations [][]Message \`json:"conversations"\`
	}
	raw, _ := os.ReadFile(os.Args[2])
	if err := json.Unmarshal(raw, &input); err != nil {
		panic(err)
	}
	out := []string{}
	for _, messages := range input.Conversations {
		if input.System != "" && (len(messages) == 0 || messages[0].Role != "system") {
			messages = append([]Message{{Role: "system", Content: input.System}}, messages...)
		}
		var b []byte
		w := &buffer{&b}
		if err := tmpl.Execute(w, map[string]any{"Messages": messages}); err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	enc, _ := json.Marshal(out)
	fmt.Println(string(enc))
}

type buffer struct{ b *[]byte }

func (w *buffer) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
`,
    );

    for (const [name, template] of [['tiny (ChatML)', undefined], ['SmolLM2', SMOLLM2_TEMPLATE]] as const) {
      test(name, (t) => {
        if (go.status !== 0) return t.skip('Go is not installed (`go version` failed); the TEMPLATE text is checked above');
        const tok = template ? withTemplate(template, '<|im_start|>') : tinyTokenizer();
        const { text } = ollamaModelfile('./m.gguf', tok, false);
        writeFileSync(join(work, 'template.txt'), TEMPLATE_LINE.exec(text)![1]!);
        const system = /^SYSTEM """([\s\S]*?)"""$/m.exec(text)?.[1] ?? '';
        writeFileSync(join(work, 'input.json'), JSON.stringify({ system, conversations }));
        const r = spawnSync('go', ['run', program, join(work, 'template.txt'), join(work, 'input.json')], { encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'off' } });
        assert.equal(r.status, 0, r.stderr);
        const rendered = JSON.parse(r.stdout) as string[];
        conversations.forEach((c, i) => assert.equal(rendered[i], tok.renderChat(c, { addGenerationPrompt: true }), `conversation ${i}`));
      });
    }
  });
});
