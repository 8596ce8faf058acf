/**
 * Groups of images that a router routes together (V-MoE's groups: capacity and priority are per
 * group), and each group's place in the experts' buffers. A batch of B images is cut into groups
 * of `groupSize` images in order; the last may be smaller. Group g holds patch rows
 * firstRow .. firstRow + tokens - 1 and, in every expert's buffer, places firstPlace .. firstPlace + capacity - 1.
 */
export interface Group {
  readonly firstRow: number;
  readonly tokens: number;
  readonly firstPlace: number;
  readonly capacity: number;
}

/**
 * V-MoE's compute_capacity (rounded up, no padding to a multiple): the places each expert has in
 * a group of `tokens` patches when the experts share `tokens * choices` choices at `factor` times
 * an even share. At least 1.
 */
export function capacity(tokens: number, choices: number, factor: number, experts: number): number {
  return Math.max(1, Math.ceil((tokens * choices * factor) / experts - 1e-9));
}

/** The groups of a batch, and the places per expert they take in all. */
export function imageGroups(
  batch: number,
  patches: number,
  groupSize: number,
  capacityOf: (tokens: number) => number,
): { readonly groups: readonly Group[]; readonly places: number } {
  const groups: Group[] = [];
  let places = 0;
  for (let first = 0; first < batch; first += groupSize) {
    const tokens = Math.min(groupSize, batch - first) * patches;
    const size = capacityOf(tokens);
    groups.push({ firstRow: first * patches, tokens, firstPlace: places, capacity: size });
    places += size;
  }
  return { groups, places };
}
