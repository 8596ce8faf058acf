import { seriesDomain } from './chart-spec.js';
import type { FigureView, ReferencePoint } from './report-types.js';
import type { ImageReportExtras } from './report-types.js';
import type { Finding } from './finding.js';
import type { OkLine, ReportLine } from './load-results.js';
import type { MachineInfo } from './machine.js';
import { runLabel } from './run-label.js';
import { aggregate, mean, type AggregatedPoint, type Observation } from './statistics.js';
import type { ProtocolSetting } from './report-types.js';

/** Our point and the paper's at the same (series, x); either may be missing. */
export interface Comparison {
  readonly series: string;
  readonly x: number;
  readonly ours: AggregatedPoint | null;
  readonly paper: number | null;
  /** ours.mean - paper, in the figure's units. */
  readonly difference: number | null;
}

export interface RunWallTime {
  readonly key: string;
  readonly run: string;
  readonly wallTimeMs: number;
  readonly backend: string;
}

/** Everything one experiment's report states; written as `<experiment>.json` and rendered as Markdown. */
export interface ExperimentReport {
  readonly experiment: string;
  readonly title: string;
  readonly generatedAt: string;
  readonly sources: readonly string[];
  readonly regenerate: string;
  readonly axes: { readonly x: string; readonly y: string; readonly series: string };
  readonly xName: string;
  readonly valueName: string;
  readonly digits: number;
  readonly valueKind: 'measure' | 'share';
  readonly points: readonly AggregatedPoint[];
  readonly paper: { readonly source: string; readonly note: string | null; readonly comparable: boolean; readonly points: readonly ReferencePoint[] };
  readonly comparisons: readonly Comparison[];
  readonly findings: readonly Finding[];
  readonly runs: { readonly ok: number; readonly failed: number };
  readonly failed: readonly { readonly key: string; readonly run: string; readonly error: string }[];
  readonly wallTime: {
    readonly totalMs: number;
    readonly meanMs: number | null;
    readonly minMs: number | null;
    readonly maxMs: number | null;
    readonly meanMsBySeries: Readonly<Record<string, number>>;
    readonly perRun: readonly RunWallTime[];
  };
  /** Backend name -> runs, from the records (where the runs ran). */
  readonly backends: Readonly<Record<string, number>>;
  readonly protocol: readonly ProtocolSetting[];
  /** Read from the environment of `pmoe report`, not from the records. */
  readonly machineAtReportTime: MachineInfo;
  readonly warnings: readonly string[];
  /** Image runs (the WRN figures): cost per model, training time per N, accuracy per group. */
  readonly image?: ImageReportExtras;
}

export interface ReportContext {
  readonly sources: readonly string[];
  readonly generatedAt: Date;
  readonly machine: MachineInfo;
  readonly regenerate: string;
}

function comparisonsOf(view: FigureView, points: readonly AggregatedPoint[]): Comparison[] {
  const paperPoints = view.paper.comparable ? view.paper.points : [];
  const id = (series: string, x: number) => JSON.stringify([series, x]);
  const ours = new Map(points.map((p) => [id(p.series, p.x), p]));
  const paper = new Map(paperPoints.map((p) => [id(p.series, p.x), p.y]));
  const order = seriesDomain(view, points);
  const pairs = [...new Map([...points, ...paperPoints].map((p) => [id(p.series, p.x), { series: p.series, x: p.x }])).values()];
  return pairs
    .sort((a, b) => order.indexOf(a.series) - order.indexOf(b.series) || a.x - b.x)
    .map(({ series, x }) => {
      const our = ours.get(id(series, x)) ?? null;
      const theirs = paper.get(id(series, x)) ?? null;
      const difference = our !== null && theirs !== null && Number.isFinite(our.mean) ? our.mean - theirs : null;
      return { series, x, ours: our, paper: theirs, difference };
    });
}

/** Aggregates one experiment's lines into its figure's points and everything the report says about them. */
export function buildExperimentReport<L extends OkLine>(
  experiment: string,
  lines: readonly ReportLine[],
  view: FigureView<L>,
  context: ReportContext,
): ExperimentReport {
  const finished = lines.filter((line): line is OkLine => line.status === 'ok');
  const ok = finished.filter((line): line is L => view.accepts(line));
  const failedLines = lines.filter((line) => line.status === 'failed');
  const warnings: string[] = finished
    .filter((line) => !view.accepts(line))
    .map((line) => `run ${runLabel(line.spec)} (${line.key}) is not the kind of run this figure reads (two-layer vs image): left out`);

  const observations: Observation[] = [];
  const wallTimesBySeries = new Map<string, number[]>();
  for (const line of ok) {
    const seen = view.observe(line);
    for (const series of new Set(seen.map((o) => o.series))) {
      const times = wallTimesBySeries.get(series);
      if (times) times.push(line.record.wallTimeMs);
      else wallTimesBySeries.set(series, [line.record.wallTimeMs]);
    }
    if (seen.length === 0) warnings.push(`run ${runLabel(line.spec)} (${line.key}) holds no number this figure uses`);
    for (const observation of seen) {
      if (Number.isFinite(observation.value) && Number.isFinite(observation.x)) observations.push(observation);
      else warnings.push(`run ${runLabel(line.spec)} (${line.key}): no finite value for ${observation.series} (left out)`);
    }
  }
  const points = aggregate(observations, view.seriesOrder);
  for (const point of points) {
    const seen = new Set<number>();
    const repeated = new Set<number>();
    for (const seed of point.seeds) (seen.has(seed) ? repeated : seen).add(seed);
    if (repeated.size > 0) {
      warnings.push(
        `${point.series}, ${view.xName} = ${point.x}: seed ${[...repeated].join(', ')} appears more than once (runs with different settings merged?)`,
      );
    }
  }
  const protocol = view.protocol(ok);
  for (const setting of protocol) {
    if (setting.values.length > 1) warnings.push(`runs differ in ${setting.setting} (${setting.values.join(', ')}): means mix them`);
  }

  const perRun = ok.map((line) => ({ key: line.key, run: runLabel(line.spec), wallTimeMs: line.record.wallTimeMs, backend: line.record.backend }));
  const times = perRun.map((r) => r.wallTimeMs);
  const backends: Record<string, number> = {};
  for (const line of ok) backends[line.record.backend] = (backends[line.record.backend] ?? 0) + 1;

  return {
    experiment,
    title: view.title,
    generatedAt: context.generatedAt.toISOString(),
    sources: context.sources,
    regenerate: context.regenerate,
    axes: { x: view.xTitle, y: view.yTitle, series: view.seriesName },
    xName: view.xName,
    valueName: view.valueName,
    digits: view.digits,
    valueKind: view.valueKind,
    points,
    paper: { source: view.paper.source, note: view.paper.note ?? null, comparable: view.paper.comparable, points: view.paper.points },
    comparisons: comparisonsOf(view, points),
    findings: view.findings(points),
    runs: { ok: ok.length, failed: failedLines.length },
    failed: failedLines.map((line) => ({ key: line.key, run: runLabel(line.spec), error: line.status === 'failed' ? line.error : '' })),
    wallTime: {
      totalMs: times.reduce((sum, t) => sum + t, 0),
      meanMs: times.length === 0 ? null : mean(times),
      // A loop, not Math.min(...times): a spread of 100k arguments overflows the stack.
      minMs: times.length === 0 ? null : times.reduce((low, t) => Math.min(low, t)),
      maxMs: times.length === 0 ? null : times.reduce((high, t) => Math.max(high, t)),
      meanMsBySeries: Object.fromEntries([...wallTimesBySeries].map(([series, list]) => [series, mean(list)])),
      perRun,
    },
    backends,
    protocol,
    machineAtReportTime: context.machine,
    warnings,
    ...(view.extras ? { image: view.extras(ok) } : {}),
  };
}
