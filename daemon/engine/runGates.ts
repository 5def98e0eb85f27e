// A run's gates as it trains, whichever engine trains it (Anneal's loop or TRL's launcher): seed 004's
// conditions for the stage, edited by the recipe, watched on every logged step (a NaN or diverging loss,
// and the recipe's own rollback conditions, stop the run at once) and evaluated at the end into the
// run's gates.json, which a pipeline reads to decide its handover.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateGates, readGates, rollbackNow, type GateReport, type StageGates } from '../../core/gates/index.ts';
import { dataFacts } from '../../core/pipeline/entry.ts';
import type { MetricRecord } from '../../core/protocol/runs.ts';
import type { Stage } from '../../core/recipe/types.ts';

/** A run stopped by its gates. Its message starts "Rolled back at step" or "Training broke down at step" (core/pipeline/handover.ts reads that). */
export class RollbackError extends Error {}

export class RunGates {
  private readonly gates: StageGates;
  /** Watched mid-run: the recipe's rollback conditions only when it wrote gates (seed 004's defaults judge at the end). */
  private readonly watched: StageGates;
  private readonly logged: MetricRecord[] = [];

  constructor(stage: Stage, private readonly recipeGates: unknown) {
    this.gates = readGates(stage, recipeGates).gates;
    this.watched = recipeGates === undefined ? { ...this.gates, rollback: [] } : this.gates;
  }

  /** Records one logged step; the reason the run must roll back now, or null. */
  observe(metrics: MetricRecord): string | null {
    this.logged.push(metrics);
    return rollbackNow(this.watched, this.logged);
  }

  /** The engine's error for a rollback `why` held at `step`. */
  static rollback(step: number, why: string): RollbackError {
    return new RollbackError(`Rolled back at step ${step}: ${why}. The run keeps its checkpoints from before; nothing after them is saved.`);
  }

  /**
   * Every condition on what was logged and on the data (`records`: the training records, which passed the
   * start checks), written to `<runDir>/gates.json` and logged one line each.
   */
  finish(stage: Stage, records: number, runDir: string, log: (line: string) => void): GateReport {
    const report = evaluateGates(this.gates, this.logged, dataFacts(stage, records));
    writeFileSync(join(runDir, 'gates.json'), JSON.stringify(report, null, 1));
    for (const r of report.results.filter((x) => x.verdict !== 'not-measured')) log(`gate ${r.kind}: ${r.line}`);
    const unmeasured = report.results.filter((x) => x.verdict === 'not-measured').length;
    log(`gates: ${report.passed ? 'passed' : 'not passed'}${report.rollback ? `; rollback condition held: ${report.rollback.line}` : ''}${unmeasured ? ` (${unmeasured} condition(s) not measured: the run logged no such metric; gates.json lists them)` : ''}`);
    return report;
  }
}
