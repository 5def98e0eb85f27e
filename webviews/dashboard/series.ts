// One metric of one run: every logged point, in step order, in growable typed arrays (a run with a
// million steps is 16 MB, and nothing is ever dropped). Also keeps the EMA-smoothed copy up to date
// incrementally, so smoothing costs O(new points) per frame.

import { lowerBound } from './downsample.ts';
import { emaStep, emaStart, type EmaState } from './smoothing.ts';

export class Series {
  steps = new Float64Array(64);
  values = new Float64Array(64);
  length = 0;
  /** Bumped on every change, so views redraw only what changed. */
  version = 0;

  private smoothed = new Float64Array(0);
  private smoothedLength = 0;
  private smoothedWeight = -1;
  private ema: EmaState = emaStart();

  /** Appends a point; a step at or before the last one replaces that tail (a resumed run redid those steps). */
  push(step: number, value: number): void {
    if (this.length > 0 && step <= this.steps[this.length - 1]!) this.truncateFrom(step);
    if (this.length === this.steps.length) this.grow();
    this.steps[this.length] = step;
    this.values[this.length] = value;
    this.length++;
    this.version++;
  }

  /** Drops every point with step >= `step`. */
  truncateFrom(step: number): void {
    const keep = this.lowerBound(step);
    if (keep === this.length) return;
    this.length = keep;
    if (this.smoothedLength > keep) this.resetSmoothing();
    this.version++;
  }

  /** Index of the first point with step >= `step`. */
  lowerBound(step: number): number {
    return lowerBound(this.steps, this.length, step);
  }

  get first(): number | undefined {
    return this.length > 0 ? this.values[0] : undefined;
  }

  get last(): number | undefined {
    return this.length > 0 ? this.values[this.length - 1] : undefined;
  }

  get lastStep(): number | undefined {
    return this.length > 0 ? this.steps[this.length - 1] : undefined;
  }

  /** The EMA-smoothed values (weight 0..1, TensorBoard's debiased EMA), valid for [0, length). */
  smoothedValues(weight: number): Float64Array {
    if (weight !== this.smoothedWeight) {
      this.smoothedWeight = weight;
      this.resetSmoothing();
    }
    if (this.smoothed.length < this.steps.length) {
      const bigger = new Float64Array(this.steps.length);
      bigger.set(this.smoothed.subarray(0, this.smoothedLength));
      this.smoothed = bigger;
    }
    // Locals, not fields, in the loop: this runs over every point whenever the slider moves.
    const { smoothed, values, ema } = this;
    const end = this.length;
    for (let i = this.smoothedLength; i < end; i++) smoothed[i] = emaStep(ema, values[i]!, weight);
    this.smoothedLength = end;
    return this.smoothed;
  }

  private resetSmoothing(): void {
    this.smoothedLength = 0;
    this.ema = emaStart();
  }

  private grow(): void {
    const steps = new Float64Array(this.steps.length * 2);
    const values = new Float64Array(this.values.length * 2);
    steps.set(this.steps);
    values.set(this.values);
    this.steps = steps;
    this.values = values;
  }
}
