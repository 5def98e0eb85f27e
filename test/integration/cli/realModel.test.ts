// The issue's "done when", as a user types it: `anneal train sft --model <SmolLM2 .gguf> --data <a small
// chat file>` with no recipe trains LoRA on the real SmolLM2-135M-Instruct through a real daemon: the
// log says what was chosen, the base model answers coherently at step 0, the loss falls, and the output
// is a PEFT adapter.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../../daemon/engine/rng.ts';
import { smollm2Gguf } from '../../helpers/realModels.ts';
import { CLI, startTestDaemon, stopTestDaemon, tempDir } from '../daemon/helpers.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));

/** A small chat file with one task the base model does not do by itself: "Shout <word>" -> "<WORD>!". */
function shoutData(dir: string): string {
  const rng = new Rng(3);
  const syllables = ['ka', 'to', 'ru', 'mi', 'ne', 'zo', 'gu', 'ri', 'te', 'wi', 'ha', 'lo'];
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const word = Array.from({ length: 3 }, () => syllables[Math.floor(rng.next() * syllables.length)]).join('');
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: `Shout ${word}` }, { role: 'assistant', content: `${word.toUpperCase()}!` }] }));
  }
  const path = join(dir, 'shout.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

test('anneal train sft on the SmolLM2 GGUF with no recipe: LoRA, a coherent step-0 answer, a falling loss', { timeout: 600_000 }, async () => {
  const dir = tempDir({ after: (fn) => cleanups.push(fn) });
  const daemon = await startTestDaemon(join(dir, 'state'));
  try {
    const r = spawnSync(process.execPath, [CLI, 'train', 'sft', '--model', smollm2Gguf(), '--data', shoutData(dir), '--max-steps', '8', '--json', '--state-dir', daemon.stateDir], {
      encoding: 'utf8',
      timeout: 580_000,
    });
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr.slice(-2000)}`);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const losses = events.filter((e) => e.event === 'metrics' && typeof e.loss === 'number').map((e) => e.loss as number);
    const samples = events.filter((e) => e.event === 'sample') as { step: number; prompt: string; completion: string }[];
    const runId = String(events.find((e) => e.event === 'status')?.runId);
    const log = readFileSync(join(daemon.stateDir, 'runs', runId, 'log.txt'), 'utf8');

    assert.match(log, /no recipe: LoRA r=16, alpha=32, dropout=0\.05 on all linear layers/);
    assert.match(log, /134515008 parameters, 4884480 trainable \(LoRA r=16\)/);
    // The quick start's gradient_checkpointing is only for steps that would not fit: these short rows do.
    assert.match(log, /gradient_checkpointing: off, no layer recomputed: a step fits in about [\d.]+ [MG]B of .* without it/);
    // The instruct model answers in words before any training (it does not know the task yet).
    const first = samples.filter((s) => s.step === 0);
    assert.equal(first.length, 2, JSON.stringify(samples));
    for (const s of first) assert.match(s.completion, /[A-Za-z]+[ ,']+[A-Za-z]+[ ,']+[A-Za-z]+/, `step 0 answer: ${s.completion}`);
    assert.equal(losses.length, 8);
    const head = (losses[0]! + losses[1]!) / 2;
    const tail = (losses[5]! + losses[6]! + losses[7]!) / 3;
    assert.ok(tail < head * 0.7, `loss should fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    const adapter = JSON.parse(readFileSync(join(daemon.stateDir, 'runs', runId, 'output', 'adapter_config.json'), 'utf8'));
    assert.equal(adapter.r, 16);
    console.log(`SmolLM2 GGUF, no recipe: loss ${losses.map((l) => l.toFixed(2)).join(' ')}; step 0 "${first[0]!.completion.slice(0, 60)}"; step 8 "${samples.at(-1)!.completion}"`);
  } finally {
    await stopTestDaemon(daemon);
  }
});
