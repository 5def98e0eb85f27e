import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendLabel, daemonStatusText, formatLoss, formatStep } from '../../../extension/client/statusText.ts';

const wasm = { name: 'wasm', device: 'wasm SIMD, 1 thread', skipped: [] };
const run = { id: 'sft-20261121-180627-aa92', stage: 'sft' as const, status: 'running' as const, step: 120, totalSteps: 400 };

test('a running run shows backend, step/total and loss', () => {
  const { text, tooltip } = daemonStatusText({ state: 'connected', remote: false, backend: wasm, run, loss: 2.38123 });
  assert.equal(text, '$(loading~spin) Anneal · wasm · step 120/400 · loss 2.381');
  assert.match(tooltip.join('\n'), /Run sft-20261121-180627-aa92 \(sft\) is running\. Click for the dashboard\./);
});

test('idle, down and reconnecting daemons say so and what to do', () => {
  assert.equal(daemonStatusText({ state: 'connected', remote: false, backend: null }).text, '$(pulse) Anneal');
  assert.match(daemonStatusText({ state: 'connected', remote: false, backend: null }).tooltip.join(' '), /Train SFT/);
  assert.equal(daemonStatusText({ state: 'connected', remote: true, backend: wasm, run: { ...run, status: 'completed' } }).text, '$(pulse) Anneal · wasm');
  assert.match(daemonStatusText({ state: 'off', remote: false, backend: null }).tooltip[0]!, /No Anneal daemon is running\. Click to start it/);
  const failed = daemonStatusText({ state: 'failed', remote: true, backend: null, reason: 'The daemon at ws://x refused the token; run "Anneal: Set Remote Daemon Token".' });
  assert.equal(failed.text, '$(error) Anneal');
  assert.match(failed.tooltip[0]!, /Set Remote Daemon Token/);
  assert.match(daemonStatusText({ state: 'reconnecting', remote: false, backend: null }).text, /reconnecting/);
  assert.equal(daemonStatusText({ state: 'connected', remote: false, backend: wasm, run: { ...run, status: 'queued', step: 0 } }).text, '$(clock) Anneal · wasm · step 0/400');
});

test('backend names, losses and steps are short', () => {
  assert.equal(backendLabel({ name: 'tensorflow-gpu', device: 'NVIDIA H100', skipped: [] }), 'CUDA');
  assert.equal(backendLabel({ name: 'cpu', device: 'js', skipped: [] }), 'CPU');
  assert.equal(backendLabel(undefined), undefined);
  // A TRL run: where it runs, from the launcher's report.
  assert.equal(backendLabel({ name: 'trl', device: 'TRL 1.16.0 on 8× NVIDIA H100, DeepSpeed ZeRO-2', skipped: [] }), 'TRL · 8× NVIDIA H100, DeepSpeed ZeRO-2');
  assert.equal(formatLoss(5.634105205535889), '5.634');
  assert.equal(formatLoss(0.048123), '0.04812');
  assert.equal(formatLoss(2), '2');
  assert.equal(formatLoss(Number.NaN), 'NaN');
  assert.equal(formatStep(5), 'step 5');
  assert.equal(formatStep(5, 40), 'step 5/40');
});
