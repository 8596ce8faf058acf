/** Relative tolerance of the pmoe / PyTorch agreement checks. */
export const AGREEMENT_TOLERANCE = 1e-4;

/** One pass/fail finding of a run: numerical agreement, finiteness, tensor leaks, peer failures. */
export interface Check {
  /** Workload id: a, b, c, e, e-dense, ceiling. */
  readonly case: string;
  readonly what: string;
  readonly ok: boolean;
  /** The measured quantity (a relative error, a count of leaked tensors), when there is one. */
  readonly value?: number;
  readonly tolerance?: number;
  readonly note?: string;
}

/**
 * max_i |a_i - b_i| / max_i |b_i|: the largest difference relative to the reference's largest
 * magnitude (robust to entries that are near zero by cancellation). NaN anywhere gives NaN;
 * a length mismatch gives Infinity.
 */
export function relativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) return Number.POSITIVE_INFINITY;
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - reference[i]);
    if (Number.isNaN(d)) return Number.NaN;
    difference = Math.max(difference, d);
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  if (difference === 0) return 0;
  return scale === 0 ? Number.POSITIVE_INFINITY : difference / scale;
}

export function agreementCheck(caseId: string, what: string, actual: ArrayLike<number>, reference: ArrayLike<number>): Check {
  const value = relativeError(actual, reference);
  return { case: caseId, what, value, tolerance: AGREEMENT_TOLERANCE, ok: value <= AGREEMENT_TOLERANCE };
}

export function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}
