// Pipelines on disk: `<stateDir>/pipelines/<id>/pipeline.json` (the pipeline as clients see it, plus
// each stage's prepared run, so a restarted daemon can start the stages still to come), written by
// atomic rename like run.json; `log.txt` beside it (append-only) says what was decided and why.

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { PipelineInfo } from '../../core/protocol/pipelines.ts';
import { isValidRunId } from '../../core/protocol/runId.ts';
import type { PreparedRun } from './prepare.ts';
import { writeFileAtomic } from './store.ts';

export interface StoredPipeline {
  info: PipelineInfo;
  /** Each stage's run as prepared by the checks (`@name` references still in place). */
  runs: PreparedRun[];
}

/** A fresh pipeline id, e.g. `pipeline-20261130-013344-9f2c` (a well-formed run id, never a run's: no stage is named pipeline). */
export function newPipelineId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `pipeline-${t}-${randomBytes(2).toString('hex')}`;
}

export class PipelineStore {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  dir(id: string): string {
    if (!isValidRunId(id)) throw new Error(`invalid pipeline id ${JSON.stringify(id)}`);
    return join(this.root, id);
  }

  exists(id: string): boolean {
    return existsSync(this.dir(id));
  }

  save(p: StoredPipeline): void {
    mkdirSync(this.dir(p.info.id), { recursive: true });
    writeFileAtomic(join(this.dir(p.info.id), 'pipeline.json'), JSON.stringify(p, null, 1) + '\n');
  }

  appendLog(id: string, line: string): void {
    appendFileSync(join(this.dir(id), 'log.txt'), `${new Date().toISOString()} ${line}\n`);
  }

  readLog(id: string): string[] {
    try {
      return readFileSync(join(this.dir(id), 'log.txt'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  /** Every readable pipeline; a folder whose pipeline.json is missing or torn is skipped (with its reason). */
  loadAll(log: (line: string) => void = () => {}): StoredPipeline[] {
    const out: StoredPipeline[] = [];
    for (const id of readdirSync(this.root)) {
      if (!isValidRunId(id)) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.root, id, 'pipeline.json'), 'utf8')) as StoredPipeline);
      } catch (err) {
        log(`[anneal] pipeline ${id}: cannot read pipeline.json (${(err as Error).message}); skipped`);
      }
    }
    return out;
  }
}
