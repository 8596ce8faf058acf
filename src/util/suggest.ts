/** Lower case without separators: `Fig-4` and `fig_4` read as `fig4`. */
const normalise = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two strings. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}

/**
 * The known name a mistyped `name` most likely meant: the same letters and digits in another case
 * or with other separators, else the one nearest within an edit or two; undefined when none is
 * close, or two are equally close.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const wanted = normalise(name);
  const same = known.find((candidate) => normalise(candidate) === wanted);
  if (same !== undefined) return same;
  // The nearest within the allowance; two at the same distance leave the choice open.
  const limit = Math.min(2, Math.floor(wanted.length / 3));
  const scored = known.map((candidate) => ({ candidate, d: distance(wanted, normalise(candidate)) })).filter(({ d }) => d <= limit);
  const nearest = Math.min(...scored.map(({ d }) => d));
  const at = scored.filter(({ d }) => d === nearest);
  return at.length === 1 ? at[0].candidate : undefined;
}
