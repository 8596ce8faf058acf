/** Where a measured curve first reaches a level. */
export type Crossing =
  /** Between two measured points, by linear interpolation. */
  | { readonly kind: 'interpolated'; readonly x: number; readonly from: number; readonly to: number }
  /** Already at the smallest measured x: the true crossing is there or earlier, unmeasured. */
  | { readonly kind: 'at-first'; readonly x: number }
  | { readonly kind: 'not-reached'; readonly largestX: number | null };

/**
 * The first x at which the curve (points in any order, non-finite y skipped) is at or above
 * `level`, interpolated linearly between the last point below and the first at or above.
 * "First" matters for noisy, non-monotone curves: it is the fewest samples that measured enough.
 */
export function firstCrossing(points: readonly { x: number; y: number }[], level: number): Crossing {
  const curve = points.filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
  for (const [index, point] of curve.entries()) {
    if (point.y < level) continue;
    if (index === 0) return { kind: 'at-first', x: point.x };
    const below = curve[index - 1];
    const x = below.x + ((level - below.y) / (point.y - below.y)) * (point.x - below.x);
    return { kind: 'interpolated', x, from: below.x, to: point.x };
  }
  return { kind: 'not-reached', largestX: curve.at(-1)?.x ?? null };
}

/** The crossing as words, e.g. "611 (between N = 500 and 700)". */
export function describeCrossing(crossing: Crossing, xName: string): string {
  switch (crossing.kind) {
    case 'interpolated':
      return `${Math.round(crossing.x)} (interpolated between ${xName} = ${crossing.from} and ${crossing.to})`;
    case 'at-first':
      return `at most ${crossing.x} (already reached at the smallest measured ${xName})`;
    case 'not-reached':
      return crossing.largestX === null ? 'nothing measured' : `not reached within the measured ${xName} (up to ${crossing.largestX})`;
  }
}
