// The CLI's view of a followed run while the run downloads its model: a bar redrawn in place on a
// TTY, a line per tenth otherwise, and the ordinary status line once the download is over.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { humanView } from '../../../daemon/client/progress.ts';

function stream(tty: boolean): NodeJS.WriteStream & { text: string } {
  const out = { text: '', isTTY: tty, columns: 200, write: (s: string) => ((out.text += s), true) };
  return out as unknown as NodeJS.WriteStream & { text: string };
}

const run = (extra: Partial<RunInfo>): RunInfo =>
  ({ id: 'r1', stage: 'sft', status: 'running', phase: 'loading', createdAt: '', model: 'org/m', data: { train: '/d' }, args: {}, lora: null, step: 0, ...extra }) as RunInfo;

test('a download draws a bar in place on a TTY, and the next status replaces it', () => {
  const out = stream(true);
  const view = humanView(out);
  view.status(run({ message: 'downloading org/m: model.safetensors, 50 B of 100 B (50%)', progress: { done: 50, total: 100 } }));
  assert.equal(out.text, `\r\x1b[2K${'█'.repeat(12)}${'░'.repeat(12)} downloading org/m: model.safetensors, 50 B of 100 B (50%)`);
  out.text = '';
  view.status(run({ phase: 'training', message: undefined }));
  assert.equal(out.text, '\r\x1b[2K[r1] running (training)\n');
});

test('without a TTY a download prints one line per tenth', () => {
  const out = stream(false);
  const view = humanView(out);
  for (const done of [0, 3, 9, 10, 55, 59, 100]) view.status(run({ message: `at ${done}`, progress: { done, total: 100 } }));
  assert.deepEqual(out.text.trim().split('\n'), ['[r1] at 0', '[r1] at 10', '[r1] at 55', '[r1] at 100']);
});
