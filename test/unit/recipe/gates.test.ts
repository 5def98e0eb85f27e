// A recipe's `gates:` in the editor: a condition that does not parse or can never hold is an error on
// its value, a metric the stage never logs a warning on its key (with the closest name), and a clean
// block says nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, codes, only, sft, span } from './helpers.ts';

test('gates: errors on the value, unknown metrics on the key, a clean block is silent', () => {
  assert.deepEqual(codes(check(sft('gates:\n  exit:\n    eval/loss: "< 1.5"\n  rollback:\n    eval/loss: "trend > 0 while loss trend < 0"\n'))), []);
  const bad = check(sft('gates:\n  exit:\n    eval/loss: "soon"\n    mean_token_acuracy: "> 0.9"\n'));
  const invalid = only(bad, 'recipe-gate-invalid');
  assert.equal(invalid.severity, 'error');
  const lines = sft('gates:\n  exit:\n    eval/loss: "soon"\n').split('\n');
  const row = lines.findIndex((l) => l.includes('"soon"'));
  assert.deepEqual(span(invalid), [row, lines[row]!.indexOf('"soon"'), row, lines[row]!.indexOf('"soon"') + 6]);
  const unknown = only(bad, 'recipe-gate-unknown-metric');
  assert.equal(unknown.severity, 'warning');
  assert.match(unknown.message, /Stage sft never logs `mean_token_acuracy`.*did you mean `mean_token_accuracy`\?/);
  assert.equal(span(unknown)[0], row + 1);
});
