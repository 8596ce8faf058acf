import type { TopLevelSpec } from 'vega-lite';
import type { FigureView } from './report-types.js';
import { compareSeriesNames, type AggregatedPoint } from './statistics.js';

/** Tableau 10: distinct hues, readable on white and in print. */
export const SERIES_COLOURS = ['#4c78a8', '#e45756', '#54a24b', '#f58518', '#b279a2', '#72b7b2', '#eeca3b', '#ff9da6', '#9d755d', '#bab0ac'];

/** The curves of this report as the chart's legend names them. */
export function oursLabel(view: FigureView): string {
  return view.errorBars ? 'pmoe: mean ± 1 std' : 'pmoe: share of trials';
}

/** Dash patterns: ours solid, the paper's dashed, whatever the colour. */
const SOLID: number[] = [1, 0];
const DASHED: number[] = [6, 4];

/** Series in legend order: the view's order first, then the rest by name, so colours are stable across reruns. */
export function seriesDomain(view: FigureView, points: readonly AggregatedPoint[]): string[] {
  const seen = new Set([...points.map((p) => p.series), ...view.paper.points.map((p) => p.series)]);
  const listed = view.seriesOrder.filter((s) => seen.has(s));
  const rest = [...seen].filter((s) => !listed.includes(s)).sort(compareSeriesNames);
  return [...listed, ...rest];
}

/** The rows a chart draws: ours with error-bar ends, the paper's with mean = its value. */
export interface ChartRow {
  readonly series: string;
  readonly x: number;
  readonly mean: number;
  readonly low: number | null;
  readonly high: number | null;
  readonly count: number | null;
  readonly source: string;
}

export function chartRows(view: FigureView, points: readonly AggregatedPoint[]): { ours: ChartRow[]; paper: ChartRow[] } {
  const ours = points
    .filter((p) => Number.isFinite(p.mean))
    .map((p) => ({
      series: p.series,
      x: p.x,
      mean: p.mean,
      low: p.std === null ? null : Math.max(p.mean - p.std, view.valueBounds?.[0] ?? -Infinity),
      high: p.std === null ? null : Math.min(p.mean + p.std, view.valueBounds?.[1] ?? Infinity),
      count: p.count,
      source: oursLabel(view),
    }));
  const paper = view.paper.points.map((p) => ({ series: p.series, x: p.x, mean: p.y, low: null, high: null, count: null, source: view.paper.source }));
  return { ours, paper };
}

/**
 * The figure as a Vega-Lite spec with its data inline, so the same object renders to SVG here and
 * in a browser (vega-embed) unchanged: our means as solid lines with ±1 std error bars (clipped to the measure's range), the
 * paper's values as dashed lines with hollow points in the same colour per series. Layers are
 * named (ours_lines, ours_points, ours_error_bars, paper_lines, paper_points); the SVG carries the
 * names as classes (`<name>_marks`), so tests and stylesheets can find each layer.
 */
export function chartSpec(view: FigureView, points: readonly AggregatedPoint[]): TopLevelSpec {
  const { ours, paper } = chartRows(view, points);
  const domain = seriesDomain(view, points);
  const sources = [oursLabel(view), ...(paper.length > 0 ? [view.paper.source] : [])];
  const xValues = [...new Set([...ours, ...paper].map((row) => row.x))].sort((a, b) => a - b);
  // Sample counts read better as 1000 than as 1,000.
  const format = xValues.every(Number.isInteger) ? 'd' : '~g';
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: view.xTitle,
    scale: { zero: false },
    axis: { values: xValues, format, grid: false, labelOverlap: 'greedy' as const },
  };
  const y = {
    field: 'mean',
    type: 'quantitative' as const,
    title: view.yTitle,
    scale: view.yDomain ? { domain: [...view.yDomain] } : { zero: false },
  };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: view.seriesName,
    scale: { domain, range: domain.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]) },
    legend: { orient: 'right' as const },
  };
  const strokeDash = {
    field: 'source',
    type: 'nominal' as const,
    title: 'values',
    scale: { domain: sources, range: [SOLID, DASHED].slice(0, sources.length) },
    legend: { orient: 'right' as const, symbolType: 'stroke', symbolStrokeColor: '#444', symbolStrokeWidth: 2, symbolSize: 400, labelLimit: 400 },
  };
  const tooltip = [
    { field: 'series', type: 'nominal' as const, title: view.seriesName },
    { field: 'x', type: 'quantitative' as const, title: view.xName },
    { field: 'mean', type: 'quantitative' as const, title: view.valueName, format: '.2f' },
    { field: 'count', type: 'quantitative' as const, title: 'runs' },
  ];
  const errorBarLayer = {
    name: 'ours_error_bars',
    data: { values: ours.filter((row) => row.low !== null) },
    mark: { type: 'errorbar' as const, ticks: true },
    encoding: { x, y: { field: 'low', type: 'quantitative' as const, title: view.yTitle }, y2: { field: 'high' }, color },
  };
  // Points get their own layers: a point overlay on a line would inherit the dash and draw broken circles.
  const lineLayer = (name: string, values: ChartRow[]) => ({
    name,
    data: { values },
    mark: { type: 'line' as const, strokeWidth: 2 },
    encoding: { x, y, color, strokeDash },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: view.paper.note ? { text: view.title, subtitle: view.paper.note } : view.title,
    width: 480,
    height: 320,
    background: 'white',
    layer: [
      // An empty layer (one run per point: no std) would only make Vega warn about its empty extent.
      ...(view.errorBars && errorBarLayer.data.values.length > 0 ? [errorBarLayer] : []),
      lineLayer('ours_lines', ours),
      { name: 'ours_points', data: { values: ours }, mark: { type: 'point' as const, filled: true, size: 40, opacity: 1 }, encoding: { x, y, color, tooltip } },
      ...(paper.length > 0
        ? [
            lineLayer('paper_lines', paper),
            {
              name: 'paper_points',
              data: { values: paper },
              mark: { type: 'point' as const, filled: false, size: 50, strokeWidth: 1.5 },
              encoding: { x, y, color, tooltip: tooltip.slice(0, 3) },
            },
          ]
        : []),
    ],
  };
}
