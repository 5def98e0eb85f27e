// The memory estimate (daemon/engine/memory.ts) against what the engine really takes on SmolLM2-135M:
// for each case, realModel.ts runs in a process of its own and reports its peak (wasm heap, or max RSS
// on native), and this prints it next to the estimate for the same setup (LoRA r16 all-linear without
// dropout, or full fine-tuning; loss on every position; no accumulation).
//   node --import tsx test/bench/memoryEstimate.ts BACKEND CASE:BxT[:checkpoint] ...
// e.g. `wasm lora:1x128 lora:2x256 full:1x64`. Prints one JSON line per case.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_LORA, defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import { loadGgufSource } from '../../daemon/engine/gguf.ts';
import { estimateTrainingMemory, formatBytes } from '../../daemon/engine/memory.ts';
import { smollm2Gguf } from '../helpers/realModels.ts';

async function main(): Promise<void> {
  const [backend, ...cases] = process.argv.slice(2);
  if (!backend || cases.length === 0) throw new Error('usage: memoryEstimate.ts BACKEND CASE:BxT[:checkpoint] ...');
  const { config } = await loadGgufSource(smollm2Gguf());
  for (const c of cases) {
    const [what, size, flag] = c.split(':') as [string, string, string | undefined];
    const [B, T] = size.split('x').map(Number) as [number, number];
    const checkpoint = flag === 'checkpoint';
    const args = { ...defaultTrainingArguments('sft'), per_device_train_batch_size: B, max_length: T, gradient_accumulation_steps: 1, gradient_checkpointing: checkpoint };
    const lora = what === 'lora' ? { ...DEFAULT_LORA, dropout: 0 } : null;
    const e = estimateTrainingMemory(config, args, lora, backend, { train: { batch: B, length: T, lossTokens: B * T } });
    let measured: { peak?: number; kind?: string; error?: string } = {};
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'realModel.ts'), backend, what, String(B), String(T), ...(checkpoint ? ['checkpoint'] : []), 'reps=2'], {
        encoding: 'utf8',
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
      });
      measured = JSON.parse(out.trim().split('\n').pop()!);
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '').trim().split('\n').pop() ?? '';
      measured = { error: out || (err as Error).message.split('\n')[0] };
    }
    console.log(
      JSON.stringify({
        backend,
        case: c,
        estimate: formatBytes(e.total),
        pieces: { weights: formatBytes(e.weights), activations: formatBytes(e.activations), logits: formatBytes(e.logits), optimizer: formatBytes(e.optimizer), overhead: formatBytes(e.overhead) },
        measured: measured.peak ? formatBytes(measured.peak) : measured.error,
        kind: measured.kind,
        ratio: measured.peak ? Number((e.total / measured.peak).toFixed(2)) : undefined,
      }),
    );
  }
}

main().catch((e) => {
  console.error((e as Error).stack ?? e);
  process.exit(1);
});
