/**
 * Least-squares fit of a power law y = e^a * x^b, as the straight line log y = a + b log x
 * (natural logs), with a t-based confidence interval for the slope b (n - 2 degrees of freedom,
 * the usual interval of simple linear regression under independent Gaussian errors in log y).
 * The t quantile comes from ./student-t.ts (implemented here; no stats package).
 */
import { studentTQuantile } from './student-t.js';

export interface PowerLawPoint {
  readonly x: number;
  readonly y: number;
}

export interface PowerLawFit {
  /** b: the exponent (slope in log-log). */
  readonly slope: number;
  readonly slopeStdError: number;
  /** [b - t * se, b + t * se] at `confidence`. */
  readonly slopeInterval: readonly [number, number];
  /** a: log y at x = 1 (natural log). */
  readonly intercept: number;
  readonly interceptStdError: number;
  /** R^2 of the log-log line; null when every log y is the same (no variance to explain). */
  readonly rSquared: number | null;
  /** Residual standard deviation in natural-log units. */
  readonly residualStd: number;
  readonly confidence: number;
  /** The t quantile used. */
  readonly tQuantile: number;
  readonly points: number;
  readonly degreesOfFreedom: number;
}

export class FitError extends RangeError {
  override name = 'FitError';
}

/** Fits log y = a + b log x by least squares. Needs at least 3 points with positive x and y and two distinct x. */
export function fitPowerLaw(points: readonly PowerLawPoint[], { confidence = 0.95 }: { confidence?: number } = {}): PowerLawFit {
  if (points.length < 3)
    throw new FitError(
      `a power-law fit needs at least 3 points (got ${points.length}): a line through 2 leaves no residual to measure the slope's uncertainty`,
    );
  if (!(confidence > 0 && confidence < 1)) throw new FitError(`confidence must be in (0, 1) (got ${confidence})`);
  for (const { x, y } of points) {
    if (!(x > 0 && y > 0 && Number.isFinite(x) && Number.isFinite(y)))
      throw new FitError(`a power-law fit needs finite x > 0 and y > 0 (got x = ${x}, y = ${y})`);
  }
  const n = points.length;
  const u = points.map((p) => Math.log(p.x));
  const v = points.map((p) => Math.log(p.y));
  const uMean = u.reduce((s, t) => s + t, 0) / n;
  const vMean = v.reduce((s, t) => s + t, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (u[i] - uMean) ** 2;
    sxy += (u[i] - uMean) * (v[i] - vMean);
    syy += (v[i] - vMean) ** 2;
  }
  // Relative test: log x values equal up to rounding have no spread to fit a slope on.
  if (sxx <= 1e-24 * Math.max(1, uMean * uMean) * n) throw new FitError('a power-law fit needs at least two distinct x values');
  const slope = sxy / sxx;
  const intercept = vMean - slope * uMean;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (v[i] - intercept - slope * u[i]) ** 2;
  const dof = n - 2;
  const variance = sse / dof;
  const slopeStdError = Math.sqrt(variance / sxx);
  const interceptStdError = Math.sqrt(variance * (1 / n + (uMean * uMean) / sxx));
  const tQuantile = studentTQuantile(1 - (1 - confidence) / 2, dof);
  return {
    slope,
    slopeStdError,
    slopeInterval: [slope - tQuantile * slopeStdError, slope + tQuantile * slopeStdError],
    intercept,
    interceptStdError,
    rSquared: syy === 0 ? null : Math.max(0, 1 - sse / syy),
    residualStd: Math.sqrt(variance),
    confidence,
    tQuantile,
    points: n,
    degreesOfFreedom: dof,
  };
}

/** The fitted y at x: e^a * x^b. */
export function powerLawAt(fit: Pick<PowerLawFit, 'intercept' | 'slope'>, x: number): number {
  return Math.exp(fit.intercept + fit.slope * Math.log(x));
}
