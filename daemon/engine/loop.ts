// Training, top to bottom, for every stage: pick a backend, load the model and the stage's data,
// (optionally) resume, then loop optimizer steps with gradient accumulation, logging, evaluation,
// samples and checkpoints; save the result. What differs between stages (data, loss, normaliser,
// metrics) is the stage's, one file each under stages/. The run machinery calls `train` in a worker.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../core/recipe/types.ts';
import type { Message } from '../../core/datasets/types.ts';
import { RollbackError, RunGates } from './runGates.ts';
import type { MetricRecord } from '../../core/protocol/runs.ts';
import type { Train, TrainEvents, TrainJob, TrainResult } from './api.ts';
import { selectBackend } from './backend.ts';
import { pruneCheckpoints, readCheckpoint, saveCheckpoint, writeFolderAtomically, writeWeights, type TrainerState } from './checkpoint.ts';
import { LoraAdapter } from './lora.ts';
import { MetricsWindow } from './metrics.ts';
import { assignData, checkWeights, createModel, disposeModel, parameterCount } from './model.ts';
import { loadPeftAdapter } from './peftAdapter.ts';
import { openStartModel } from './startModel.ts';
import { AdamW, clipByGlobalNorm } from './optim.ts';
import { hashSeed, Rng } from './rng.ts';
import { generate } from './sample.ts';
import { learningRate } from './schedule.ts';
import { guardWasmAllocations, TrainingMemory, type Phase } from './memory.ts';
import { defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import { shownPrompt } from './rollout.ts';
import { RunAnswers, wantsAnswers } from './runAnswers.ts';
import { STAGES } from './stages/index.ts';
import type { MicroBatch } from './stages/stage.ts';

/** A gate's rollback condition (or a broken loss) stopped the run; its message says which and why. */

/** Runs `job`; see daemon/engine/api.ts for the contract. */
export const train: Train = async (job: TrainJob, events: TrainEvents, signal: AbortSignal): Promise<TrainResult> => {
  // TRL's defaults (core/recipe owns them) under anything the job leaves out.
  const args: TrainingArguments = { ...defaultTrainingArguments(job.stage), ...job.args };
  const stage = STAGES[job.stage];
  if (!stage) throw new Error(`This engine does not train the "${job.stage}" stage yet.`);
  stage.checkArgs(args);
  events.status({ phase: 'loading', message: 'choosing a backend' });
  const backend = await selectBackend(job.backend);
  events.log(`backend: ${backend.name} (${backend.device})${backend.skipped.map((s) => `; skipped ${s.name}: ${s.reason}`).join('')}`);
  guardWasmAllocations();

  const start = await openStartModel(job, args, events, signal);
  const { source, lora: loraConfig } = start;
  const tok = source.tokenizer;
  const data = stage.load(job, args, source);
  for (const note of data.notes) events.log(note);
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const totalSteps = args.max_steps > 0 ? args.max_steps : Math.max(1, Math.ceil((args.num_train_epochs * data.perEpoch) / accum));

  // Refused here, before the weights are uploaded, when the run cannot fit (one sentence saying what to lower).
  // A stage that runs several sequences per record (chosen and rejected) sizes its micro-batches in sequences.
  const rows = data.memory.rowsPerExample;
  const memoryArgs = { ...args, per_device_train_batch_size: args.per_device_train_batch_size * rows, per_device_eval_batch_size: args.per_device_eval_batch_size * rows };
  const memory = TrainingMemory.check({ config: source.config, args: memoryArgs, lora: loraConfig, backend: backend.name, train: data.memory.train, eval: data.memory.eval, maxLength: data.memory.maxLength, sampling: (job.samples?.prompts.length ?? 0) > 0 || wantsAnswers(job, args), optionalCheckpointing: job.autoCheckpointing === true }, events.log);
  args.gradient_checkpointing = memory.gradientCheckpointing;
  let phase: Phase = 'training step';
  const model = createModel(source.config, source.weights, loraConfig === null, source.quantized);
  // The variables own the weights now; the host copies (the model's size again) can go.
  source.weights.clear();
  // A continued adapter trains from its saved weights; a second, frozen copy is the reference.
  const continued = start.adapter ? () => loadPeftAdapter(model, start.adapter!.folder, args.seed, start.adapter!.dir).lora : null;
  const lora = continued ? continued() : loraConfig ? new LoraAdapter(model, loraConfig, args.seed) : null;
  const reference = continued ? continued() : undefined;
  // Built before a checkpoint's weights are loaded: a stage with a reference model takes its
  // reference log-probs of a full fine-tune from the starting weights.
  const objective = data.objective({ model, lora, reference, args, totalMicroBatches: totalSteps * accum, log: events.log, sample: events.sample });
  const head = objective.head ?? null;
  // The starting model's answers to the eval prompts, before any weight changes (a resumed checkpoint's included).
  const answers = objective.hasEval ? await RunAnswers.open({ job, args, model, tok, lora, reference, context: source.config.max_position_embeddings, log: events.log, signal }) : null;

  const trainable = new Map([...(lora ? lora.params : model.params), ...(head ?? [])]);
  const names = new Map([...trainable].map(([name, v]) => [v.name, name])); // tf variable name -> HF/PEFT name
  const optimizer = new AdamW(trainable, { beta1: args.adam_beta1, beta2: args.adam_beta2, epsilon: args.adam_epsilon, weightDecay: args.weight_decay });
  const trainableCount = [...trainable.values()].reduce((a, v) => a + v.size, 0);
  events.log(`model ${job.model}: ${parameterCount(source.config)} parameters, ${trainableCount} trainable (${lora ? `LoRA r=${loraConfig!.r}${start.adapter ? ', continued' : ''}` : 'full fine-tuning'}); ${data.records} training records, ${data.perEpoch} micro-batches per epoch, ${totalSteps} steps`);

  let step = 0;
  let micro = 0;
  let numTokens = 0;
  if (job.resumeFrom) {
    const ck = readCheckpoint(job.resumeFrom);
    if ((ck.state.stage ?? 'sft') !== job.stage) throw new Error(`Checkpoint ${job.resumeFrom} is from a ${ck.state.stage ?? 'sft'} run; resume it with that stage, not ${job.stage}.`);
    // A full model is saved in its checkpoint layout (GPT-2's Conv1D weights are [in, out]): read it back as a model folder is read.
    const headWeights = new Map([...ck.weights].filter(([name]) => head?.has(name)));
    const saved = lora ? ck.weights : new Map([...checkWeights(source.config, new Map([...ck.weights].filter(([name]) => !head?.has(name)))), ...headWeights]);
    for (const [name, v] of trainable) {
      const t = saved.get(lora ? `base_model.model.${name}` : name);
      if (!t) throw new Error(`Checkpoint ${job.resumeFrom} lacks ${name}; it was made with a different model or LoRA setting.`);
      assignData(v, t.data);
    }
    optimizer.load(ck.optimizer);
    ({ step, micro, numTokens } = ck.state);
    events.log(`resumed from ${job.resumeFrom} at step ${step}`);
  }

  const state = (): TrainerState => ({ stage: job.stage, step, micro, epoch: micro / data.perEpoch, numTokens, totalSteps, seed: args.seed, model: job.model, lora: loraConfig, args });
  let lastCheckpoint: number | undefined;
  let lastSave = performance.now();
  /** The eval loss of the latest evaluation and its step: a checkpoint at that step records it (the best is kept). */
  let lastEval: { step: number; loss: number } | undefined;
  const checkpoint = () => {
    const evalLoss = lastEval?.step === step ? lastEval.loss : undefined;
    const path = saveCheckpoint(job.runDir, { ...state(), ...(evalLoss !== undefined ? { evalLoss } : {}) }, model, lora, optimizer.state(), source.baseName, head);
    lastCheckpoint = step;
    lastSave = performance.now();
    events.checkpoint({ step, path });
    const removed = pruneCheckpoints(job.runDir, args.save_total_limit ?? 0);
    if (removed.length > 0) events.log(`checkpoints: removed step ${removed.join(', ')} (save_total_limit ${args.save_total_limit} keeps the newest and the best)`);
  };
  /** save_steps, or save_minutes of training since the last checkpoint. */
  const checkpointDue = () =>
    (args.save_steps > 0 && step % args.save_steps === 0) || ((args.save_minutes ?? 0) > 0 && performance.now() - lastSave >= args.save_minutes * 60_000);

  const evaluate = async () => {
    phase = 'evaluation';
    if (lora) lora.training = false;
    const window = new MetricsWindow();
    objective.evaluate(window);
    const means = window.means('eval/');
    if (typeof means['eval/loss'] === 'number') lastEval = { step, loss: means['eval/loss'] };
    // The stage's own metrics keep their TRL meaning where a name meets (DPO's and KTO's eval/entropy is on the eval pairs).
    const measured = answers ? await answers.measure(step) : {};
    log({ step, ...measured, ...means });
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
      events.sample({ step, prompt: shownPrompt(prompt as string | Message[]), completion: tok.decode(ids, { skipSpecial: true }) });
    });
  };

  // Seed 004's gates for this stage, edited by the recipe: a NaN or diverging loss (and, when the recipe
  // writes gates, its rollback conditions) stops the run at once; the end of the run reports them all.
  const gates = new RunGates(job.stage, job.gates);
  const log = (m: MetricRecord) => {
    events.metrics(m);
    const why = gates.observe(m);
    if (why) throw RunGates.rollback(m.step, why);
  };

  events.status({ phase: 'training', totalSteps, backend });
  const window = new MetricsWindow();
  let since = { loss: 0, steps: 0, tokens: 0, start: performance.now() };
  let stopped = false;
  try {
    // The base model's answers before any training, so every later sample has something to be compared with.
    if (step === 0 && job.samples && job.samples.every_steps > 0) {
      sampleAll();
      since.start = performance.now();
    }
    while (step < totalSteps) {
      phase = 'training step';
      // One optimizer step: `accum` micro-batches, each loss divided by the stage's normaliser for the
      // whole step, gradients summed, so accumulation equals one big batch.
      const batches: MicroBatch[] = [];
      for (let k = 0; k < accum; k++, micro++) batches.push({ epoch: Math.floor(micro / data.perEpoch), index: micro % data.perEpoch });
      if (objective.prepareStep) {
        phase = 'sampling';
        if (lora) lora.training = false;
        const ready = await objective.prepareStep(batches, step, signal);
        if (!ready) {
          // Stopped while sampling: this step never happened; checkpoint the last one done.
          micro -= accum;
          checkpoint();
          stopped = true;
          break;
        }
        phase = 'training step';
      }
      const normaliser = objective.normaliser(batches);
      const lr = learningRate(args, step, totalSteps);
      let acc: Map<string, tf.Tensor> | null = null;
      let stepLoss = 0;
      batches.forEach((b, k) => {
        if (lora) {
          lora.training = args.disable_dropout !== true;
          lora.reseed(hashSeed(args.seed, step, k));
        }
        const work = objective.micro(b, normaliser);
        const { value, grads } = tf.variableGrads(() => work.loss(), [...trainable.values()]);
        stepLoss += value.dataSync()[0]!;
        value.dispose();
        work.record(window);
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
        since.tokens += work.tokens;
        numTokens += work.tokens;
      });
      let gradNorm = 0;
      tf.tidy(() => {
        const clipped = clipByGlobalNorm(acc!, args.max_grad_norm);
        gradNorm = clipped.norm;
        // A NaN or infinite loss or gradient would make every weight NaN: leave them as they were.
        if (Number.isFinite(stepLoss) && Number.isFinite(gradNorm)) optimizer.apply(clipped.grads, lr);
      });
      for (const g of acc!.values()) g.dispose();
      if (!Number.isFinite(stepLoss) || !Number.isFinite(gradNorm)) {
        const what = Number.isFinite(stepLoss) ? `the gradient norm is ${gradNorm}` : `the loss is ${stepLoss}`;
        const kept = lastCheckpoint === undefined ? 'no checkpoint was written before it' : `its last checkpoint (step ${lastCheckpoint}) is kept`;
        throw new RollbackError(`Training broke down at step ${step + 1}: ${what}. The step was not applied and nothing after it is saved; ${kept}. Lower the learning rate (it was ${lr.toPrecision(3)}) or check the data for extreme records.`);
      }
      memory.assertNoSilentFailure(phase);
      step++;
      since.loss += stepLoss;
      since.steps++;

      if (step % args.logging_steps === 0 || step === 1 || step === totalSteps) {
        const seconds = (performance.now() - since.start) / 1000;
        log({
          step,
          loss: since.loss / since.steps,
          learning_rate: lr,
          grad_norm: gradNorm,
          epoch: micro / data.perEpoch,
          num_tokens: numTokens,
          ...window.means(),
          'train/tokens_per_second': since.tokens / Math.max(1e-9, seconds),
        });
        window.clear();
        since = { loss: 0, steps: 0, tokens: 0, start: performance.now() };
      }
      // Evaluation, samples and checkpoints are not training: keep their time out of tokens/s.
      const paused = performance.now();
      if (objective.hasEval && (step % args.eval_steps === 0 || step === totalSteps)) await evaluate();
      if (job.samples && job.samples.every_steps > 0 && (step % job.samples.every_steps === 0 || step === totalSteps)) sampleAll();
      if (checkpointDue()) checkpoint();
      since.start += performance.now() - paused;
      memory.assertNoSilentFailure(phase);
      // Let the worker deliver a stop request between steps.
      await new Promise((r) => setImmediate(r));
      if (signal.aborted && step < totalSteps) {
        if (lastCheckpoint !== step) checkpoint();
        stopped = true;
        break;
      }
    }

    const outputDir = join(job.runDir, 'output');
    if (!stopped) {
      // The trainer refused data with errors, so the data facts are its record count.
      gates.finish(job.stage, data.records, job.runDir, (line) => events.log(line));
      events.status({ phase: 'saving', message: `writing ${outputDir}` });
      writeFolderAtomically(outputDir, (tmp) => {
        writeWeights(tmp, model, lora, source.baseName, head);
        for (const [file, text] of source.tokenizerFiles) writeFileSync(join(tmp, file), text);
      });
      events.status({ phase: 'done' });
    }
    return { finalStep: step, outputDir, stopped };
  } catch (err) {
    if (err instanceof RollbackError) throw err;
    // An allocation that failed becomes one sentence with the phase, the estimate and what to lower.
    throw memory.explain(err, phase);
  } finally {
    await answers?.close();
    objective.dispose();
    optimizer.dispose();
    lora?.dispose();
    reference?.dispose();
    disposeModel(model);
  }
};
