// One metric's chart: uPlot over the downsampled points of every run shown (raw and, when smoothing,
// the smoothed curve on top), with drag-to-zoom (double-click resets), a live legend as the hover
// readout, and the points-held figures in data-* attributes for tests.

import uPlot from 'uplot';
import { h, setAttr } from '../shared/dom.ts';
import { downsampleIndices, gather } from './downsample.ts';
import { formatValue } from './format.ts';
import type { Series } from './series.ts';

/** One run's line on a chart. */
export interface ChartLine {
  runId: string;
  label: string;
  color: string;
  series: Series | undefined;
}

export interface ChartOptions {
  smoothing: number;
  log: boolean;
}

/** Resolves a CSS colour expression (variables, color-mix) to a colour canvas understands. */
export function resolveColor(expression: string, fallback: string): string {
  const probe = document.createElement('span');
  probe.style.color = fallback;
  probe.style.color = expression;
  document.body.append(probe);
  const color = getComputedStyle(probe).color;
  probe.remove();
  return color || fallback;
}

const HEIGHT = 190;

export class MetricChart {
  readonly element: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly caption: HTMLElement;
  private plot: uPlot | undefined;
  private structure = '';
  private zoom: { min: number; max: number } | null = null;
  private settingData = false;
  private drawnVersion = '';

  constructor(readonly metric: string, private readonly requestRedraw: () => void) {
    this.plotHost = h('div', { class: 'plot' });
    this.caption = h('span', { class: 'chart-last muted' });
    this.element = h('div', { class: 'chart', 'data-metric': metric, 'data-count': '0' }, h('div', { class: 'chart-title' }, h('span', { class: 'chart-name' }, metric), this.caption), this.plotHost);
  }

  /** Redraws when anything changed since the last draw; returns true when it drew. */
  update(lines: ChartLine[], options: ChartOptions, force = false): boolean {
    const width = Math.max(200, Math.floor(this.plotHost.clientWidth || this.element.clientWidth || 400));
    const version = [width, options.smoothing, options.log, this.zoom?.min, this.zoom?.max, ...lines.map((l) => `${l.runId}:${l.series?.version ?? -1}`)].join('|');
    if (!force && version === this.drawnVersion && this.plot) return false;
    this.drawnVersion = version;
    this.updateFigures(lines[0]?.series);

    const smoothing = options.smoothing > 0;
    const structure = [options.log, smoothing, ...lines.map((l) => `${l.runId}/${l.color}/${l.label}`)].join('|');
    if (structure !== this.structure || !this.plot) {
      this.plot?.destroy();
      this.plot = new uPlot(this.plotOptions(lines, options, width), this.data(lines, options, width), this.plotHost);
      this.structure = structure;
      if (this.zoom) this.applyZoom();
      return true;
    }
    if (this.plot.width !== width) this.plot.setSize({ width, height: HEIGHT });
    this.settingData = true;
    try {
      this.plot.setData(this.data(lines, options, width), this.zoom === null);
      if (this.zoom) this.plot.setScale('x', this.zoom);
    } finally {
      this.settingData = false;
    }
    return true;
  }

  /** Forces a rebuild on the next update (theme change). */
  invalidate(): void {
    this.structure = '';
    this.drawnVersion = '';
  }

  destroy(): void {
    this.plot?.destroy();
    this.element.remove();
  }

  private updateFigures(series: Series | undefined): void {
    setAttr(this.element, 'data-count', String(series?.length ?? 0));
    setAttr(this.element, 'data-first', series?.first !== undefined ? String(series.first) : undefined);
    setAttr(this.element, 'data-last', series?.last !== undefined ? String(series.last) : undefined);
    this.caption.textContent = series?.last !== undefined ? `${formatValue(series.last)} @ ${series.lastStep}` : 'no points yet';
  }

  private applyZoom(): void {
    this.settingData = true;
    try {
      this.plot?.setScale('x', this.zoom!);
    } finally {
      this.settingData = false;
    }
  }

  private fullRange(lines: ChartLine[]): { min: number; max: number } {
    let min = Infinity;
    let max = -Infinity;
    for (const l of lines) {
      const s = l.series;
      if (!s || s.length === 0) continue;
      min = Math.min(min, s.steps[0]!);
      max = Math.max(max, s.steps[s.length - 1]!);
    }
    return Number.isFinite(min) ? { min, max } : { min: 0, max: 1 };
  }

  /** Aligned data for uPlot: each run downsampled to a few points per pixel over the visible range. */
  private data(lines: ChartLine[], options: ChartOptions, width: number): uPlot.AlignedData {
    const range = this.zoom ?? this.fullRange(lines);
    const tables: uPlot.AlignedData[] = [...lines].reverse().map((line) => {
      const s = line.series;
      if (!s || s.length === 0) return options.smoothing > 0 ? [[], [], []] : [[], []];
      const idx = downsampleIndices(s.steps, s.values, s.length, range.min, range.max, width);
      const xs = gather(s.steps, idx) as number[];
      const raw = gather(s.values, idx, options.log);
      if (options.smoothing <= 0) return [xs, raw];
      return [xs, raw, gather(s.smoothedValues(options.smoothing), idx, options.log)];
    });
    if (tables.length === 1) return tables[0]!;
    if (tables.length === 0) return [[]];
    return uPlot.join(tables);
  }

  private plotOptions(lines: ChartLine[], options: ChartOptions, width: number): uPlot.Options {
    const fg = resolveColor('var(--vscode-descriptionForeground, var(--vscode-editor-foreground))', '#9d9d9d');
    // The theme's chart line colour is meant for a few lines; a grid of them needs it fainter.
    const grid = resolveColor('color-mix(in srgb, var(--vscode-charts-lines, #80808080) 45%, transparent)', 'rgba(128,128,128,0.25)');
    const font = `11px ${getComputedStyle(document.body).fontFamily || 'sans-serif'}`;
    const smoothing = options.smoothing > 0;
    const series: uPlot.Series[] = [{ label: 'step', value: (_u, v) => (v === null || v === undefined ? '–' : String(v)) }];
    // Overlaid runs first, so the main run (lines[0]) is drawn on top of them.
    for (const line of [...lines].reverse()) {
      const name = lines.length === 1 ? (smoothing ? 'smoothed' : this.metric) : line.label;
      series.push({ label: smoothing ? (lines.length === 1 ? 'raw' : `${name} raw`) : name, stroke: line.color, width: smoothing ? 1 : 1.5, alpha: smoothing ? 0.3 : 1, spanGaps: true, points: { show: false }, value: (_u, v) => formatValue(v) });
      if (smoothing) series.push({ label: name, stroke: line.color, width: 2, spanGaps: true, points: { show: false }, value: (_u, v) => formatValue(v) });
    }
    const axis = (extra: Partial<uPlot.Axis>): uPlot.Axis => ({ stroke: fg, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, ...extra });
    return {
      width,
      height: HEIGHT,
      scales: { x: { time: false }, y: { distr: options.log ? 3 : 1 } },
      series,
      // uPlot passes null for log-scale ticks it leaves unlabelled.
      axes: [axis({}), axis({ size: 64, values: (_u, splits) => splits.map((v) => (v === null ? '' : formatValue(v))) })],
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 6 } },
      hooks: {
        setScale: [
          (u, key) => {
            if (key !== 'x' || this.settingData) return;
            const full = this.fullRange(lines);
            const { min, max } = u.scales.x as { min: number; max: number };
            // A zoom keeps its range while points stream in; double-click (full range) ends it.
            const zoomed = min > full.min || max < full.max;
            this.zoom = zoomed ? { min, max } : null;
            if (zoomed) this.requestRedraw();
          },
        ],
      },
    };
  }
}
