// A judgement of the side-by-side chat as a preference record: TRL's conversational format
// ({prompt, chosen, rejected}, each a list of {role, content}), checked with Anneal's own dataset
// checker before it is written, and appended to the judgements file as one line. The file is only
// ever appended to (created when missing), never rewritten, so records the user already has stay put.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkDataset } from '../../../core/datasets/check.ts';
import type { ChatTurn } from '../../../core/protocol/generate.ts';

export interface PreferenceRecord {
  prompt: ChatTurn[];
  chosen: [{ role: 'assistant'; content: string }];
  rejected: [{ role: 'assistant'; content: string }];
}

/** The record for a prompt (an optional system turn, then the user's) and the two answers. */
export function preferenceRecord(system: string, prompt: string, chosen: string, rejected: string): PreferenceRecord {
  return {
    prompt: [...(system.trim() ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: prompt }],
    chosen: [{ role: 'assistant', content: chosen }],
    rejected: [{ role: 'assistant', content: rejected }],
  };
}

export type RecordCheck = { ok: true; line: string; warnings: string[] } | { ok: false; errors: string[] };

/**
 * The record as one JSONL line, checked as preference data the way `anneal validate` checks a file:
 * errors (an empty answer, identical sides) refuse it; warnings come back for the user.
 */
export function checkRecord(record: PreferenceRecord): RecordCheck {
  const line = JSON.stringify(record);
  const report = checkDataset(line + '\n', { kind: 'preference', nearDuplicates: false, retainRecords: false });
  const errors = report.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
  if (report.summary.records !== 1 && errors.length === 0) errors.push('the record is not a preference pair.');
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, line, warnings: report.diagnostics.filter((d) => d.severity === 'warning').map((d) => d.message) };
}

export class RecordRefused extends Error {}

/**
 * Checks the record and appends it to `file` (created with its folder when missing). A file whose last
 * byte is not a newline gets one first, so the record starts its own line. Returns the 1-based line written.
 */
export function appendRecord(file: string, record: PreferenceRecord): { line: number; warnings: string[] } {
  const checked = checkRecord(record);
  if (!checked.ok) throw new RecordRefused(`The record was not written: ${checked.errors.join(' ')}`);
  mkdirSync(dirname(file), { recursive: true });
  // 'a': every write goes to the end of the file, whatever its size; nothing before it is touched.
  const fd = openSync(file, 'a+');
  try {
    const size = fstatSync(fd).size;
    let lines = 0;
    let lastByte = 0x0a;
    if (size > 0) {
      const buffer = Buffer.alloc(64 * 1024);
      for (let pos = 0; pos < size; ) {
        const read = readSync(fd, buffer, 0, buffer.length, pos);
        if (read <= 0) break;
        for (let i = 0; i < read; i++) if (buffer[i] === 0x0a) lines++;
        lastByte = buffer[read - 1]!;
        pos += read;
      }
    }
    const prefix = lastByte === 0x0a ? '' : '\n';
    writeSync(fd, `${prefix}${checked.line}\n`);
    return { line: lines + (prefix ? 1 : 0) + 1, warnings: checked.warnings };
  } finally {
    closeSync(fd);
  }
}
