// Anneal's own numbers for an adapter on its base, the way training computes them (base weights plus
// the LoRA delta on every projection, never merged): for each conversation, the chat-template text
// and ids, the logits at every position, and the greedy continuation with each step's top-2 margin.
// The export tests hold every exported artifact to these.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Message } from '../../../core/datasets/types.ts';
import { adapterBaseModel } from '../../../core/modelRef.ts';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import type { ChatTokenizer } from '../../../core/tokenize/types.ts';
import type { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { causalBias, createModel, disposeModel, forward, type LlamaModel } from '../../../daemon/engine/model.ts';
import { openModelSource } from '../../../daemon/engine/modelSource.ts';
import { loadPeftAdapter, readPeftAdapter } from '../../../daemon/engine/peftAdapter.ts';

export const FIXTURES = join(import.meta.dirname, '../../fixtures/export');
export const TINY_LORA = join(FIXTURES, 'tiny-lora');
export const PROMPTS = JSON.parse(readFileSync(join(FIXTURES, 'prompts.json'), 'utf8')) as { max_new_tokens: number; conversations: Message[][] };

export interface Reference {
  text: string;
  ids: number[];
  /** [T, vocab] */
  logits: Float32Array[];
  greedy: number[];
  /** Top-1 minus top-2 logit at each greedy step (how far from a tie each choice was). */
  margins: number[];
}

/** Logits [T, vocab] of one sequence. */
function logitsOf(model: LlamaModel, lora: LoraAdapter | undefined, ids: number[]): Float32Array[] {
  const T = ids.length;
  const flat = tf.tidy(() =>
    forward(model, { batch: 1, length: T, ids: Int32Array.from(ids), positions: Int32Array.from(ids, (_, i) => i), bias: causalBias(new Int32Array(T).fill(1), 1, T) }, lora ? { adapter: lora } : {}).dataSync() as Float32Array,
  );
  const V = flat.length / T;
  return Array.from({ length: T }, (_, t) => flat.slice(t * V, (t + 1) * V));
}

function top2(row: Float32Array): { best: number; margin: number } {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  let second = -Infinity;
  for (let i = 0; i < row.length; i++) if (i !== best && row[i]! > second) second = row[i]!;
  return { best, margin: row[best]! - second };
}

/** Greedy decoding by full forward passes (no cache: the plain reference), stopping at a stop id. */
function greedyOf(model: LlamaModel, lora: LoraAdapter | undefined, ids: number[], maxNew: number, stopIds: number[]): { greedy: number[]; margins: number[] } {
  const seq = [...ids];
  const greedy: number[] = [];
  const margins: number[] = [];
  for (let i = 0; i < maxNew; i++) {
    const rows = logitsOf(model, lora, seq);
    const { best, margin } = top2(rows[rows.length - 1]!);
    margins.push(margin);
    if (stopIds.includes(best)) break;
    greedy.push(best);
    seq.push(best);
  }
  return { greedy, margins };
}

/** Opens `model` (a folder, or an adapter on its base) as training would, with the adapter applied unmerged. */
export async function openForReference(dir: string, seed: number): Promise<{ model: LlamaModel; lora?: LoraAdapter; tokenizer: ChatTokenizer; dispose(): void }> {
  const isAdapter = existsSync(join(dir, 'adapter_config.json'));
  const source = await openModelSource(isAdapter ? adapterBaseModel(dir, nodeFiles) : dir, seed);
  const model = createModel(source.config, source.weights, false);
  const lora = isAdapter ? loadPeftAdapter(model, readPeftAdapter(dir), seed, dir).lora : undefined;
  return {
    model,
    lora,
    tokenizer: source.tokenizer,
    dispose: () => {
      lora?.dispose();
      disposeModel(model);
    },
  };
}

/** Anneal's numbers for every conversation of `prompts` on `dir` (an adapter folder or a model folder). */
export async function annealReference(dir: string, seed: number, prompts = PROMPTS): Promise<Reference[]> {
  const { model, lora, tokenizer, dispose } = await openForReference(dir, seed);
  try {
    return prompts.conversations.map((messages) => {
      const text = tokenizer.renderChat(messages, { addGenerationPrompt: true });
      const ids = tokenizer.encode(text);
      return { text, ids, logits: logitsOf(model, lora, ids), ...greedyOf(model, lora, ids, prompts.max_new_tokens, tokenizer.stopIds) };
    });
  } finally {
    dispose();
  }
}

/** Largest |a - b| over two [T, vocab] logit tables. */
export function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let worst = 0;
  a.forEach((row, t) => {
    for (let i = 0; i < row.length; i++) worst = Math.max(worst, Math.abs(row[i]! - b[t]![i]!));
  });
  return worst;
}

/** The Python of the project's venv (torch, transformers, peft, gguf), or why it cannot be used. */
export function venvPython(): { python: string } | { skip: string } {
  const python = process.env.ANNEAL_VENV_PYTHON ?? join(homedir(), '.cache/anneal/venv/bin/python');
  if (!existsSync(python)) return { skip: `no Python venv at ${python} (set ANNEAL_VENV_PYTHON, or create ~/.cache/anneal/venv with torch and transformers)` };
  const probe = spawnSync(python, ['-c', 'import torch, transformers'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skip: `${python} cannot import torch and transformers: ${probe.stderr.trim().split('\n').pop()}` };
  return { python };
}
