// Supervised fine-tuning, top to bottom: pick a backend, load model + data, (optionally) resume,
// then loop optimizer steps with gradient accumulation, logging, evaluation, samples and
// checkpoints; save the result. The run machinery calls `train` in a worker process.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../core/recipe/types.ts';
import type { Message } from '../../core/datasets/types.ts';
import type { Train, TrainEvents, TrainJob, TrainResult } from './api.ts';
import { selectBackend } from './backend.ts';
import { readCheckpoint, saveCheckpoint, writeFolderAtomically, writeWeights, type TrainerState } from './checkpoint.ts';
import { BatchLoader, loadExamples, type Batch } from './data.ts';
import { LoraAdapter } from './lora.ts';
import { assignData, causalBias, checkWeights, createModel, disposeModel, forward, parameterCount, type LlamaModel } from './model.ts';
import { openModelSource, type ModelSource } from './modelSource.ts';
import { quantizedFootprint } from './quantized.ts';
import { describeDownload, resolveModel, type DownloadProgress } from '../models/hub.ts';
import { headCrossEntropy, type SftLossType } from './ops.ts';
import { AdamW, clipByGlobalNorm } from './optim.ts';
import { hashSeed, Rng } from './rng.ts';
import { generate } from './sample.ts';
import { learningRate } from './schedule.ts';
import { guardWasmAllocations, TrainingMemory, type Phase } from './memory.ts';
import { defaultTrainingArguments, LOSS_TYPES } from '../../core/recipe/defaults.ts';

/**
 * Loss pieces of one micro-batch: summed weighted token loss (scaled) and correct-token count.
 * `checkpointLayers` (gradient_checkpointing) recomputes each layer in the backward pass.
 */
function batchLoss(model: LlamaModel, lora: LoraAdapter | null, b: Batch, scale: number, lossType: SftLossType, out: { correct?: tf.Tensor }, checkpointLayers = false): tf.Scalar {
  // Only positions that carry loss go through the head: saves most of the lm_head cost.
  const select: number[] = [];
  for (let i = 0; i < b.weights.length; i++) if (b.weights[i]! > 0) select.push(i);
  const sel = Int32Array.from(select);
  const labels = tf.tensor1d(Int32Array.from(select, (i) => b.labels[i]!), 'int32');
  const weights = tf.fill([sel.length], scale) as tf.Tensor1D;
  // The head and the loss in one chunked op: the [positions, vocab] logits are never held at once.
  const lossHead = (hidden: tf.Tensor2D, head: tf.Tensor2D) => headCrossEntropy(hidden, head, labels, weights, lossType, out);
  return forward(
    model,
    { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) },
    { adapter: lora ?? undefined, frozenBase: lora !== null, select: sel, checkpointLayers, lossHead },
  ) as tf.Tensor as tf.Scalar;
}

/** The job's SFT loss; one SFT does not implement is refused before any work starts. */
function sftLossType(job: TrainJob, value: string | undefined): SftLossType {
  const known = LOSS_TYPES[job.stage];
  if (value === undefined) return 'nll';
  if (!known.includes(value)) throw new Error(`loss_type \`${value}\` is not an SFT loss; use ${known.join(' or ')}.`);
  return value as SftLossType;
}

/**
 * Train and eval examples with their loaders. Records are cut to the loader's row length (max_length,
 * capped by the model's position table), so none overflows a packed row or outruns the positions.
 */
export function prepareData(data: TrainJob['data'], args: TrainingArguments, source: ModelSource) {
  const tok = source.tokenizer;
  const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
  const cut = { ...args, max_length: maxLength };
  const trainSet = loadExamples(data.train, tok, cut);
  const evalSet = data.eval ? loadExamples(data.eval, tok, cut) : null;
  const loader = new BatchLoader(trainSet.examples, { batchSize: args.per_device_train_batch_size, maxLength, packing: args.packing, seed: args.seed, padId: tok.padId, shuffle: true });
  const evalLoader = evalSet ? new BatchLoader(evalSet.examples, { batchSize: args.per_device_eval_batch_size, maxLength, packing: false, seed: args.seed, padId: tok.padId, shuffle: false }) : null;
  return { trainSet, evalSet, loader, evalLoader, maxLength };
}

/** Runs SFT for `job`; see daemon/engine/api.ts for the contract. */
export const train: Train = async (job: TrainJob, events: TrainEvents, signal: AbortSignal): Promise<TrainResult> => {
  // TRL's defaults (core/recipe owns them) under anything the job leaves out.
  const args: TrainingArguments = { ...defaultTrainingArguments(job.stage), ...job.args };
  const lossType = sftLossType(job, args.loss_type);
  events.status({ phase: 'loading', message: 'choosing a backend' });
  const backend = await selectBackend(job.backend);
  events.log(`backend: ${backend.name} (${backend.device})${backend.skipped.map((s) => `; skipped ${s.name}: ${s.reason}`).join('')}`);
  guardWasmAllocations();

  // A Hub id becomes its snapshot in the Hugging Face cache, downloaded first (with progress) when missing.
  const onProgress = (p: DownloadProgress) => events.status({ phase: 'loading', message: describeDownload(p), progress: { done: p.done, total: p.total } });
  const folder = await resolveModel(job.model, { signal, onProgress, log: events.log });
  if (args.load_in_4bit && !job.lora) {
    throw new Error('load_in_4bit keeps the base model quantized and frozen, so it needs LoRA; add `lora: {}` to the recipe (or remove load_in_4bit for full fine-tuning).');
  }
  const source: ModelSource = await openModelSource(folder.dir, args.seed, { loadIn4bit: args.load_in_4bit === true });
  if (source.quantized) {
    const { bytes, floatBytes } = quantizedFootprint(source.quantized);
    events.log(`load_in_4bit: ${source.quantized.size} frozen linear weights kept quantized in ${(bytes / 2 ** 20).toFixed(0)} MiB instead of ${(floatBytes / 2 ** 20).toFixed(0)} MiB of float32, dequantized layer by layer as they are used`);
  }
  if (folder.hub) source.baseName = folder.hub.id;
  const tok = source.tokenizer;
  const { trainSet, evalSet, loader, evalLoader, maxLength } = prepareData(job.data, args, source);
  if (trainSet.truncated > 0) {
    const why = maxLength < args.max_length ? `the model's max_position_embeddings, below max_length=${args.max_length}` : 'max_length';
    events.log(`${trainSet.truncated} training record(s) were cut to ${maxLength} tokens (${why})`);
  }
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const totalSteps = args.max_steps > 0 ? args.max_steps : Math.max(1, Math.ceil((args.num_train_epochs * loader.perEpoch) / accum));

  // Refused here, before the weights are uploaded, when the run cannot fit (one sentence saying what to lower).
  const memory = TrainingMemory.check({ config: source.config, args, lora: job.lora, backend: backend.name, train: trainSet.examples, eval: evalSet?.examples ?? null, maxLength, sampling: (job.samples?.prompts.length ?? 0) > 0 }, events.log);
  let phase: Phase = 'training step';
  const model = createModel(source.config, source.weights, job.lora === null, source.quantized);
  // The variables own the weights now; the host copies (the model's size again) can go.
  source.weights.clear();
  const lora = job.lora ? new LoraAdapter(model, job.lora, args.seed) : null;
  const trainable = lora ? lora.params : model.params;
  const names = new Map([...trainable].map(([name, v]) => [v.name, name])); // tf variable name -> HF/PEFT name
  const optimizer = new AdamW(trainable, { beta1: args.adam_beta1, beta2: args.adam_beta2, epsilon: args.adam_epsilon, weightDecay: args.weight_decay });
  const trainableCount = [...trainable.values()].reduce((a, v) => a + v.size, 0);
  events.log(`model ${job.model}: ${parameterCount(source.config)} parameters, ${trainableCount} trainable (${lora ? `LoRA r=${job.lora!.r}` : 'full fine-tuning'}); ${trainSet.examples.length} training records, ${loader.perEpoch} micro-batches per epoch, ${totalSteps} steps`);

  let step = 0;
  let micro = 0;
  let numTokens = 0;
  if (job.resumeFrom) {
    const ck = readCheckpoint(job.resumeFrom);
    // A full model is saved in its checkpoint layout (GPT-2's Conv1D weights are [in, out]): read it back as a model folder is read.
    const saved = lora ? ck.weights : checkWeights(source.config, ck.weights);
    for (const [name, v] of trainable) {
      const t = saved.get(lora ? `base_model.model.${name}` : name);
      if (!t) throw new Error(`Checkpoint ${job.resumeFrom} lacks ${name}; it was made with a different model or LoRA setting.`);
      assignData(v, t.data);
    }
    optimizer.load(ck.optimizer);
    ({ step, micro, numTokens } = ck.state);
    events.log(`resumed from ${job.resumeFrom} at step ${step}`);
  }

  const state = (): TrainerState => ({ step, micro, epoch: micro / loader.perEpoch, numTokens, totalSteps, seed: args.seed, model: job.model, lora: job.lora, args });
  const checkpoint = () => {
    const path = saveCheckpoint(job.runDir, state(), model, lora, optimizer.state(), source.baseName);
    events.checkpoint({ step, path });
  };

  const evaluate = (): { loss: number; accuracy: number } => {
    phase = 'evaluation';
    if (lora) lora.training = false;
    let nll = 0;
    let correct = 0;
    let count = 0;
    for (let i = 0; i < evalLoader!.perEpoch; i++) {
      const b = evalLoader!.batchAt(0, i);
      const out: { correct?: tf.Tensor } = {};
      nll += tf.tidy(() => batchLoss(model, lora, b, 1, lossType, out).dataSync()[0]!);
      correct += out.correct!.dataSync()[0]!;
      out.correct!.dispose();
      count += b.lossTokens;
    }
    return { loss: nll / Math.max(1, count), accuracy: correct / Math.max(1, count) };
  };

  const sampleAll = () => {
    if (!job.samples || job.samples.prompts.length === 0) return;
    phase = 'sampling';
    if (lora) lora.training = false;
    job.samples.prompts.forEach((prompt, i) => {
      const ids = generate(model, tok.encodePrompt(prompt as string | Message[]), {
        maxNewTokens: job.samples!.max_new_tokens,
        temperature: job.samples!.temperature,
        topP: job.samples!.top_p,
        stopIds: tok.stopIds.length > 0 ? tok.stopIds : [tok.eosId],
        rng: new Rng(hashSeed(args.seed, step, i)),
        adapter: lora ?? undefined,
      });
      const shown = typeof prompt === 'string' ? prompt : prompt.filter((m) => m.role === 'user').pop()?.content ?? '';
      events.sample({ step, prompt: shown, completion: tok.decode(ids, { skipSpecial: true }) });
    });
  };

  events.status({ phase: 'training', totalSteps, backend });
  let window = { loss: 0, correct: 0, lossTokens: 0, tokens: 0, steps: 0, start: performance.now() };
  let stopped = false;
  try {
    // The base model's answers before any training, so every later sample has something to be compared with.
    if (step === 0 && job.samples && job.samples.every_steps > 0) {
      sampleAll();
      window.start = performance.now();
    }
    while (step < totalSteps) {
      phase = 'training step';
      // One optimizer step: `accum` micro-batches, loss normalised by their total loss tokens
      // (transformers' num_items_in_batch), so accumulation equals one big batch.
      const batches: Batch[] = [];
      for (let k = 0; k < accum; k++, micro++) batches.push(loader.batchAt(Math.floor(micro / loader.perEpoch), micro % loader.perEpoch));
      const lossTokens = batches.reduce((a, b) => a + b.lossTokens, 0);
      const lr = learningRate(args, step, totalSteps);
      let acc: Map<string, tf.Tensor> | null = null;
      let stepLoss = 0;
      batches.forEach((b, k) => {
        if (lora) {
          lora.training = true;
          lora.reseed(hashSeed(args.seed, step, k));
        }
        const out: { correct?: tf.Tensor } = {};
        const { value, grads } = tf.variableGrads(() => batchLoss(model, lora, b, 1 / Math.max(1, lossTokens), lossType, out, args.gradient_checkpointing === true), [...trainable.values()]);
        stepLoss += value.dataSync()[0]!;
        window.correct += out.correct!.dataSync()[0]!;
        value.dispose();
        out.correct!.dispose();
        if (acc === null) acc = new Map(Object.entries(grads).map(([k2, g]) => [names.get(k2)!, g]));
        else {
          for (const [k2, g] of Object.entries(grads)) {
            const name = names.get(k2)!;
            const sum = tf.add(acc.get(name)!, g);
            acc.get(name)!.dispose();
            g.dispose();
            acc.set(name, sum);
          }
        }
        window.tokens += b.tokens;
        numTokens += b.tokens;
      });
      let gradNorm = 0;
      tf.tidy(() => {
        const clipped = clipByGlobalNorm(acc!, args.max_grad_norm);
        gradNorm = clipped.norm;
        optimizer.apply(clipped.grads, lr);
      });
      for (const g of acc!.values()) g.dispose();
      memory.assertNoSilentFailure(phase);
      step++;
      window.loss += stepLoss;
      window.lossTokens += lossTokens;
      window.steps++;

      if (step % args.logging_steps === 0 || step === 1 || step === totalSteps) {
        const seconds = (performance.now() - window.start) / 1000;
        events.metrics({
          step,
          loss: window.loss / window.steps,
          learning_rate: lr,
          grad_norm: gradNorm,
          epoch: micro / loader.perEpoch,
          num_tokens: numTokens,
          mean_token_accuracy: window.correct / Math.max(1, window.lossTokens),
          'train/tokens_per_second': window.tokens / Math.max(1e-9, seconds),
        });
        window = { loss: 0, correct: 0, lossTokens: 0, tokens: 0, steps: 0, start: performance.now() };
      }
      // Evaluation, samples and checkpoints are not training: keep their time out of tokens/s.
      const paused = performance.now();
      if (evalLoader && (step % args.eval_steps === 0 || step === totalSteps)) {
        const e = evaluate();
        events.metrics({ step, 'eval/loss': e.loss, 'eval/mean_token_accuracy': e.accuracy });
      }
      if (job.samples && job.samples.every_steps > 0 && (step % job.samples.every_steps === 0 || step === totalSteps)) sampleAll();
      if (args.save_steps > 0 && step % args.save_steps === 0) checkpoint();
      window.start += performance.now() - paused;
      memory.assertNoSilentFailure(phase);
      // Let the worker deliver a stop request between steps.
      await new Promise((r) => setImmediate(r));
      if (signal.aborted && step < totalSteps) {
        if (args.save_steps <= 0 || step % args.save_steps !== 0) checkpoint();
        stopped = true;
        break;
      }
    }

    const outputDir = join(job.runDir, 'output');
    if (!stopped) {
      events.status({ phase: 'saving', message: `writing ${outputDir}` });
      writeFolderAtomically(outputDir, (tmp) => {
        writeWeights(tmp, model, lora, source.baseName);
        for (const [file, text] of source.tokenizerFiles) writeFileSync(join(tmp, file), text);
      });
      events.status({ phase: 'done' });
    }
    return { finalStep: step, outputDir, stopped };
  } catch (err) {
    // An allocation that failed becomes one sentence with the phase, the estimate and what to lower.
    throw memory.explain(err, phase);
  } finally {
    optimizer.dispose();
    lora?.dispose();
    disposeModel(model);
  }
};
