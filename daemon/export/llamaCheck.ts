// After a GGUF export: does llama.cpp give the answers Anneal gives? The exported file is opened twice,
// by llama.cpp (node-llama-cpp, its prompt rendered from the file's own chat template, as Ollama or
// llama-cli would) and by Anneal's engine (the same file read back, q8_0 blocks dequantized), and
// both continue each sample prompt greedily. Comparing against Anneal's answers from the *same file*
// is the honest test of the export: the trained model ran in f32 with its adapter unmerged, and
// quantization alone may flip a near tie, which is no fault of the file. That effect is reported
// beside it (whether the file keeps the trained model's final greedy samples), and where two token
// streams part, the first differing token and Anneal's logit gap between the two choices say whether
// it was a near tie or a real disagreement.
//
// node-llama-cpp is optional (ESM, native binaries): loaded by name at run time, never bundled; where
// it is absent (a packaged extension) the check says it was skipped and why.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Message, Turns } from '../../core/datasets/types.ts';
import type { LlamaCheck, LlamaCheckPrompt, SampleRecord } from '../../core/protocol/runs.ts';
import { selectBackend } from '../engine/backend.ts';
import { causalBias, forward } from '../engine/model.ts';
import { Rng } from '../engine/rng.ts';
import { shownPrompt, stopIds } from '../engine/rollout.ts';
import { generate } from '../engine/sample.ts';
import { openScoringModel } from '../engine/scoringModel.ts';
import { resolveExportSource } from './source.ts';

/** Asked of a model whose run sampled no prompts. */
const DEFAULT_PROMPTS: Turns[] = ['Who are you?', 'What can you help me with?'];
const DEFAULT_NEW_TOKENS = 32;
const MAX_NEW_TOKENS = 64;

// Loaded through a variable so bundlers leave the optional package alone (as the native backends).
const load = (name: string): Promise<unknown> => import(name);

export interface LlamaCheckPlan {
  prompts: Turns[];
  maxNewTokens: number;
  /** The trained model's final greedy sample per prompt, when its run sampled greedily. */
  trained?: (string | undefined)[];
  seed: number;
}

/** What to ask: the exported run's sample prompts (its final greedy samples to compare), else two plain questions. */
export function checkPlan(sourceRef: string, stateDir: string): LlamaCheckPlan {
  let source;
  try {
    source = resolveExportSource(sourceRef, stateDir);
  } catch {
    return { prompts: DEFAULT_PROMPTS, maxNewTokens: DEFAULT_NEW_TOKENS, seed: 42 };
  }
  const samples = source.run?.samples;
  if (!samples?.prompts.length) return { prompts: DEFAULT_PROMPTS, maxNewTokens: DEFAULT_NEW_TOKENS, seed: source.seed };
  const prompts = samples.prompts as Turns[];
  const plan: LlamaCheckPlan = { prompts, maxNewTokens: Math.min(samples.max_new_tokens || DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS), seed: source.seed };
  // The run's last samples are the exported weights' answers only when they were greedy, at the output's step.
  if (samples.temperature <= 0 && source.runDir && source.checkpointStep === undefined && plan.maxNewTokens === samples.max_new_tokens) {
    const records = readSamples(join(source.runDir, 'samples.jsonl'));
    const last = Math.max(...records.map((r) => r.step));
    if (records.length && last === source.run?.step) plan.trained = prompts.map((p) => records.find((r) => r.step === last && r.prompt === shownPrompt(p))?.completion);
  }
  return plan;
}

function readSamples(path: string): SampleRecord[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as SampleRecord);
  } catch {
    return [];
  }
}

interface Answer {
  ids: number[];
  text: string;
}

/** Anneal's greedy answers from the GGUF, and a way to ask its logit gap where llama.cpp parts from it. */
async function annealAnswers(gguf: string, plan: LlamaCheckPlan) {
  await selectBackend();
  const scoring = await openScoringModel(gguf, plan.seed);
  const tok = scoring.tokenizer;
  const stop = stopIds(tok);
  const prompts = plan.prompts.map((p) => tok.encodePrompt(p));
  const answers: Answer[] = prompts.map((ids) => {
    const out = generate(scoring.model, ids, { maxNewTokens: plan.maxNewTokens, temperature: 0, topP: 1, stopIds: stop, rng: new Rng(plan.seed) });
    return { ids: out, text: tok.decode(out, { skipSpecial: true }) };
  });
  /** Anneal's logit of `mine` minus that of `theirs` after `ids` (full forward pass: the plain reference). */
  const gap = (ids: number[], mine: number, theirs: number): number => {
    const T = ids.length;
    const row = tf.tidy(() => {
      const logits = forward(scoring.model, { batch: 1, length: T, ids: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), bias: causalBias(new Int32Array(T).fill(1), 1, T) }, {});
      return tf.slice(tf.reshape(logits, [T, -1]), [T - 1, 0], [1, -1]).dataSync() as Float32Array;
    });
    return row[mine]! - row[theirs]!;
  };
  const tokenText = (id: number) => tok.decode([id]);
  return { prompts, answers, gap, tokenText, dispose: () => scoring.dispose() };
}

/** llama.cpp's greedy answers, each prompt rendered by the GGUF's own chat template (or Anneal's ids when it has none). */
async function llamaCppAnswers(gguf: string, plan: LlamaCheckPlan, annealPrompts: number[][]): Promise<{ answers: Answer[]; promptsDiffer: number }> {
  const { getLlama, LlamaLogLevel, JinjaTemplateChatWrapper } = (await load('node-llama-cpp')) as typeof import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath: gguf });
    const template = model.fileInfo.metadata.tokenizer?.chat_template as string | undefined;
    const wrapper = template ? new JinjaTemplateChatWrapper({ template, trimLeadingWhitespaceInResponses: false }) : undefined;
    const context = await model.createContext({ contextSize: 1024, threads: 1 });
    const answers: Answer[] = [];
    let promptsDiffer = 0;
    for (let i = 0; i < plan.prompts.length; i++) {
      const p = plan.prompts[i]!;
      const messages: Message[] = typeof p === 'string' ? [{ role: 'user', content: p }] : p;
      const history = messages.map((m) => (m.role === 'assistant' ? { type: 'model' as const, response: [m.content] } : { type: m.role as 'system' | 'user', text: m.content }));
      history.push({ type: 'model', response: [] });
      const ids = wrapper ? wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer).map(Number) : annealPrompts[i]!;
      if (ids.join(',') !== annealPrompts[i]!.join(',')) promptsDiffer++;
      const sequence = context.getSequence();
      const out: number[] = [];
      for await (const token of sequence.evaluate(ids as never, { temperature: 0 })) {
        if (model.isEogToken(token)) break;
        out.push(Number(token));
        if (out.length >= plan.maxNewTokens) break;
      }
      sequence.dispose();
      answers.push({ ids: out, text: model.detokenize(out as never) });
    }
    await context.dispose();
    await model.dispose();
    return { answers, promptsDiffer };
  } finally {
    await llama.dispose();
  }
}

const quote = (s: string) => JSON.stringify(s.replace(/\s+/g, ' ').trim());

/** Runs the check on `gguf`; never throws (a broken check is reported as failed). */
export async function llamaCheck(gguf: string, plan: LlamaCheckPlan): Promise<LlamaCheck> {
  try {
    await load('node-llama-cpp');
  } catch (err) {
    const why = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' ? 'node-llama-cpp is not installed beside Anneal (a packaged extension leaves it out)' : `node-llama-cpp could not be loaded (${(err as Error).message.split('\n')[0]})`;
    return { status: 'skipped', summary: `llama.cpp check skipped: ${why}; \`npm install node-llama-cpp\` in Anneal's folder enables it.` };
  }
  try {
    const anneal = await annealAnswers(gguf, plan);
    try {
      const { answers, promptsDiffer } = await llamaCppAnswers(gguf, plan, anneal.prompts);
      const prompts: LlamaCheckPrompt[] = plan.prompts.map((p, i) => {
        const mine = anneal.answers[i]!;
        const theirs = answers[i]!;
        const same = mine.ids.join(',') === theirs.ids.join(',');
        const entry: LlamaCheckPrompt = { prompt: shownPrompt(p), anneal: mine.text, llamaCpp: theirs.text, same };
        if (!same) {
          let k = 0;
          while (k < mine.ids.length && k < theirs.ids.length && mine.ids[k] === theirs.ids[k]) k++;
          if (k < mine.ids.length && k < theirs.ids.length) {
            const margin = anneal.gap([...anneal.prompts[i]!, ...mine.ids.slice(0, k)], mine.ids[k]!, theirs.ids[k]!);
            entry.firstDifference = { index: k, anneal: anneal.tokenText(mine.ids[k]!), llamaCpp: anneal.tokenText(theirs.ids[k]!), margin };
          }
        }
        const trained = plan.trained?.[i];
        if (trained !== undefined) entry.sameAsTrained = trained === mine.text;
        return entry;
      });
      const agree = prompts.filter((p) => p.same).length;
      const lines = [`llama.cpp gives Anneal's answers on ${agree}/${prompts.length} prompts (greedy, up to ${plan.maxNewTokens} new tokens, each side decoding this GGUF; llama.cpp rendering the file's own chat template${promptsDiffer ? `, which tokenized ${promptsDiffer} prompt(s) unlike Anneal` : ', to the same prompt tokens as Anneal'}).`];
      for (const p of prompts.filter((x) => !x.same)) {
        const d = p.firstDifference;
        lines.push(`${quote(p.prompt)}: Anneal ${quote(p.anneal)} vs llama.cpp ${quote(p.llamaCpp)}${d ? ` (first difference at token ${d.index}: Anneal ${JSON.stringify(d.anneal)}, llama.cpp ${JSON.stringify(d.llamaCpp)}; Anneal's logit gap between the two ${d.margin.toFixed(3)}${d.margin < 0.1 ? ', a near tie' : ''})` : ''}`);
      }
      const compared = prompts.filter((p) => p.sameAsTrained !== undefined);
      if (compared.length) {
        const kept = compared.filter((p) => p.sameAsTrained).length;
        lines.push(`The GGUF keeps the trained model's final greedy samples on ${kept}/${compared.length} prompts${kept < compared.length ? ' (merging the adapter and quantizing moved a near choice)' : ''}.`);
      }
      return { status: agree === prompts.length ? 'same' : 'differ', summary: lines.join('\n'), prompts };
    } finally {
      anneal.dispose();
    }
  } catch (err) {
    return { status: 'failed', summary: `llama.cpp check failed: ${(err as Error).message.split('\n')[0]}` };
  }
}
