/** Summary of per-step times: median and the 10th / 90th percentiles, in milliseconds. */
export interface TimeSummary {
  readonly medianMs: number;
  readonly p10Ms: number;
  readonly p90Ms: number;
  /** How many timed steps the summary is over. */
  readonly samples: number;
}

/** The q-quantile (0..1) of sorted values, interpolating linearly between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

export function summarise(timesMs: readonly number[]): TimeSummary {
  const sorted = [...timesMs].sort((a, b) => a - b);
  return { medianMs: quantile(sorted, 0.5), p10Ms: quantile(sorted, 0.1), p90Ms: quantile(sorted, 0.9), samples: sorted.length };
}

/** Achieved GFLOP/s of a step of `flops` floating-point operations that took `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e6);
}
