/** One number from one run, placed on a figure: curve `series`, abscissa `x`. */
export interface Observation {
  readonly series: string;
  readonly x: number;
  readonly value: number;
  readonly seed: number;
  /** The run's key, to trace a number back to its line. */
  readonly key: string;
}

/** The runs at one point of one curve, summarised. */
export interface AggregatedPoint {
  readonly series: string;
  readonly x: number;
  readonly mean: number;
  /** Sample standard deviation (n - 1); null with fewer than two runs. */
  readonly std: number | null;
  readonly count: number;
  readonly seeds: readonly number[];
  readonly values: readonly number[];
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Sample standard deviation, as the paper's ±1 std error bars over 5 runs. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1));
}

/** Orders series names so that 'l = 10' follows 'l = 8'. */
// One collator: localeCompare with options builds one per call, which dominates sorting 100k run labels.
const collator = new Intl.Collator('en', { numeric: true });
export function compareSeriesNames(a: string, b: string): number {
  return collator.compare(a, b);
}

/**
 * Groups observations by (series, x) and summarises each group; points come out ordered by
 * `seriesOrder` (then by name), then by x.
 */
export function aggregate(observations: readonly Observation[], seriesOrder: readonly string[] = []): AggregatedPoint[] {
  const groups = new Map<string, Observation[]>();
  for (const observation of observations) {
    const id = JSON.stringify([observation.series, observation.x]);
    const group = groups.get(id) ?? [];
    group.push(observation);
    groups.set(id, group);
  }
  const rank = (series: string) => {
    const at = seriesOrder.indexOf(series);
    return at < 0 ? seriesOrder.length : at;
  };
  return [...groups.values()]
    .map((group) => {
      const sorted = [...group].sort((a, b) => a.seed - b.seed);
      const values = sorted.map((o) => o.value);
      return {
        series: group[0].series,
        x: group[0].x,
        mean: mean(values),
        std: sampleStd(values),
        count: values.length,
        seeds: sorted.map((o) => o.seed),
        values,
      };
    })
    .sort((a, b) => rank(a.series) - rank(b.series) || compareSeriesNames(a.series, b.series) || a.x - b.x);
}

/** The points of one series, by x. */
export function curveOf(points: readonly AggregatedPoint[], series: string): AggregatedPoint[] {
  return points.filter((p) => p.series === series).sort((a, b) => a.x - b.x);
}
