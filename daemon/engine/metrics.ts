// The metrics a stage records between two log lines, averaged at log time: TRL appends every
// micro-batch's value to a list per name (`self._metrics[mode][name]`) and its `log()` logs each
// list's mean, so a window of several steps reports the mean of its micro-batches.

export class MetricsWindow {
  private readonly values = new Map<string, number[]>();

  add(name: string, value: number): void {
    const list = this.values.get(name);
    if (list) list.push(value);
    else this.values.set(name, [value]);
  }

  /** Each name's mean (NaN values, e.g. a batch without rejected examples, are left out), under `prefix`. */
  means(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, list] of this.values) {
      const finite = list.filter((v) => !Number.isNaN(v));
      if (finite.length > 0) out[prefix + name] = finite.reduce((a, v) => a + v, 0) / finite.length;
    }
    return out;
  }

  clear(): void {
    this.values.clear();
  }
}
