/**
 * Bisection for a sample-complexity threshold: the smallest integer N in [low, high] at which a
 * share of seeds (runs) reaching a target is at least `requiredShare`, assuming that share does not
 * fall as N grows (monotone success).
 *
 * The search runs on a log scale (midpoints are geometric means, rounded), because thresholds
 * spread over orders of magnitude. Endpoints are evaluated lazily: `high` is tried only when the
 * bracket has closed onto it, `low` only when it has closed onto it, so a threshold strictly inside
 * the range never pays for a run at `high`, the most expensive N.
 *
 * Tolerance is relative: the search stops once hi <= lo * (1 + tolerance) (or hi = lo + 1), where
 * lo is the largest N seen to fail and hi the smallest seen to succeed. Under monotone success the
 * true threshold T satisfies lo < T <= hi, so the reported threshold hi satisfies
 * T <= hi < T * (1 + tolerance). It is never outside [low, high]: if `high` fails the status is
 * 'not reached' with no threshold; if `low` succeeds the status is 'at or below low' and the
 * threshold is `low`, read as "<= low".
 *
 * The search is a deterministic state machine (`Bisection`): the same outcomes give the same
 * queries, so a driver can replay it from stored results. `findThreshold` runs it against an
 * async success function.
 */
import { z } from 'zod';
import { integer, parseOptions, real } from '../util/options.js';

export const thresholdOptionsSchema = z
  .object({
    /** Smallest N searched (an integer >= 1). */
    low: integer(1),
    /** Largest N searched (an integer >= low). */
    high: integer(1),
    /** Relative tolerance: stop when hi <= lo * (1 + tolerance). Default 0.1. */
    tolerance: real(0, Infinity, { exclusiveMin: true }).default(0.1),
    /** Share of seeds that must reach the target for N to count as a success. Default 0.8. */
    requiredShare: real(0, 1, { exclusiveMin: true }).default(0.8),
  })
  .strict()
  .refine((o) => o.high >= o.low, { message: 'high must be >= low', path: ['high'] });

export type ThresholdOptions = z.input<typeof thresholdOptionsSchema>;
export type ThresholdConfig = z.output<typeof thresholdOptionsSchema>;

/**
 * - 'found': low < threshold <= high; N = bracket[0] failed and N = bracket[1] = threshold succeeded.
 * - 'at or below low': `low` already succeeded; threshold = low means "<= low".
 * - 'not reached': `high` failed; no threshold in the range.
 * - 'open': the search has not finished (only from `Bisection.result()` before `done`).
 */
export type ThresholdStatus = 'found' | 'at or below low' | 'not reached' | 'open';

export interface ThresholdEvaluation {
  readonly n: number;
  readonly share: number;
  readonly success: boolean;
}

export interface ThresholdResult {
  readonly status: ThresholdStatus;
  /** The smallest N seen to succeed when the status is 'found' or 'at or below low'; otherwise null. */
  readonly threshold: number | null;
  /**
   * [largest N seen to fail, smallest N seen to succeed]; null where no such N was evaluated
   * ('at or below low': [null, low]; 'not reached': [high, null]).
   */
  readonly bracket: readonly [number | null, number | null];
  /** Number of evaluations of the success function. */
  readonly evaluations: number;
  /** Every evaluation, in order. */
  readonly trace: readonly ThresholdEvaluation[];
  readonly options: ThresholdConfig;
}

/** The most evaluations a search over [low, high] can take with this tolerance. */
export function maxEvaluations(options: ThresholdOptions): number {
  const o = parseOptions(thresholdOptionsSchema, options, 'bisection');
  if (o.high === o.low) return 1;
  // Interior halvings of log(high/low) down to log(1 + tolerance), plus both endpoints (integer
  // rounding of the midpoints can cost one halving more, but then at most one endpoint is needed).
  const halvings = Math.ceil(Math.log2(Math.log(o.high / o.low) / Math.log1p(o.tolerance)));
  return Math.max(0, halvings) + 2;
}

/** The search as a state machine: ask `next()`, run it, `record()` the share; repeat until `done`. */
export class Bisection {
  readonly options: ThresholdConfig;
  /** Largest N known (or, before evaluation, assumed) to fail; starts at low, unverified. */
  private lo: number;
  private loKnown = false;
  /** Smallest N known (or assumed) to succeed; starts at high, unverified. */
  private hi: number;
  private hiKnown = false;
  private readonly history: ThresholdEvaluation[] = [];

  constructor(options: ThresholdOptions) {
    this.options = parseOptions(thresholdOptionsSchema, options, 'bisection');
    this.lo = this.options.low;
    this.hi = this.options.high;
  }

  private get narrow(): boolean {
    return this.hi - this.lo <= 1 || this.hi <= this.lo * (1 + this.options.tolerance);
  }

  get status(): ThresholdStatus {
    const { low, high } = this.options;
    if (this.loKnown && this.lo >= high) return 'not reached';
    if (this.hiKnown && this.hi <= low) return 'at or below low';
    if (this.loKnown && this.hiKnown && this.narrow) return 'found';
    return 'open';
  }

  get done(): boolean {
    return this.status !== 'open';
  }

  /** The N to evaluate next, or null when the search is over. */
  next(): number | null {
    if (this.done) return null;
    if (this.narrow) return this.hiKnown ? this.lo : this.hi; // close the bracket on its unverified end
    const mid = Math.round(Math.sqrt(this.lo * this.hi));
    return Math.min(this.hi - 1, Math.max(this.lo + 1, mid));
  }

  /** Records the share of seeds that reached the target at `n`, which must be `next()`. */
  record(n: number, share: number): this {
    const expected = this.next();
    if (expected === null) throw new Error(`bisection: the search is over; no evaluation at N = ${n} expected`);
    if (n !== expected) throw new Error(`bisection: expected an evaluation at N = ${expected}, got N = ${n}`);
    if (!(share >= 0 && share <= 1)) throw new RangeError(`bisection: share must be in [0, 1] (got ${share})`);
    const success = share >= this.options.requiredShare;
    this.history.push({ n, share, success });
    if (success) {
      this.hi = n;
      this.hiKnown = true;
    } else {
      this.lo = n;
      this.loKnown = true;
    }
    return this;
  }

  result(): ThresholdResult {
    const status = this.status;
    return {
      status,
      threshold: status === 'found' || status === 'at or below low' ? this.hi : null,
      bracket: [this.loKnown ? this.lo : null, this.hiKnown ? this.hi : null],
      evaluations: this.history.length,
      trace: [...this.history],
      options: this.options,
    };
  }
}

/**
 * The smallest N in [low, high] with `successAt(N) >= requiredShare`, by bisection on a log scale.
 * `successAt` returns the share of seeds that reach the target at N (a number in [0, 1]).
 */
export async function findThreshold(successAt: (n: number) => Promise<number> | number, options: ThresholdOptions): Promise<ThresholdResult> {
  const search = new Bisection(options);
  for (let n = search.next(); n !== null; n = search.next()) search.record(n, await successAt(n));
  return search.result();
}

/** The result in words: "120 (bracket 100-120)", "<= 8", "not reached (> 2048)". */
export function describeThreshold(result: Pick<ThresholdResult, 'status' | 'threshold' | 'bracket'>): string {
  const [lo, hi] = result.bracket;
  switch (result.status) {
    case 'found':
      return `${result.threshold} (${lo} fails)`;
    case 'at or below low':
      return `<= ${result.threshold}`;
    case 'not reached':
      return `not reached (> ${lo})`;
    default:
      return `open (${lo ?? '?'}..${hi ?? '?'})`;
  }
}
