/**
 * Over a set of images, what each expert receives: how many of its selected patches are the
 * image's class-discriminative patch (by the image's class) and how many are irrelevant. Pure
 * arithmetic on routing arrays, shared by the report and the web page.
 */

export interface RoutingTable {
  readonly batch: number;
  readonly experts: number;
  readonly patchesPerExpert: number;
  /** [batch, k, l] row-major. */
  readonly indices: ArrayLike<number>;
  /** [batch, k, l] row-major. */
  readonly gates: ArrayLike<number>;
}

export interface ExpertShare {
  /** 0-based expert index. */
  readonly expert: number;
  /** Patches the expert selected over the images with a known discriminative patch: images x l. */
  readonly selected: number;
  /** Of those, discriminative patches, by the class of their image. */
  readonly discriminativeByClass: readonly number[];
  /** discriminative / selected. */
  readonly discriminativeShare: number;
  /** The expert's gate mass on discriminative patches over its total gate mass. */
  readonly discriminativeGateShare: number;
}

export function expertShares(routing: RoutingTable, discriminativePatch: ArrayLike<number>, labels: ArrayLike<number>, classes: number): ExpertShare[] {
  const { batch, experts: k, patchesPerExpert: l, indices, gates } = routing;
  if (discriminativePatch.length !== batch || labels.length !== batch) {
    throw new RangeError(`routing covers ${batch} images but ${discriminativePatch.length} discriminative patches and ${labels.length} labels were given`);
  }
  const selected = new Array<number>(k).fill(0);
  const byClass = Array.from({ length: k }, () => new Array<number>(classes).fill(0));
  const gateTotal = new Array<number>(k).fill(0);
  const gateOnTarget = new Array<number>(k).fill(0);
  for (let i = 0; i < batch; i++) {
    const target = discriminativePatch[i];
    if (target < 0) continue;
    const label = labels[i];
    for (let s = 0; s < k; s++) {
      for (let t = 0; t < l; t++) {
        const at = (i * k + s) * l + t;
        selected[s]++;
        gateTotal[s] += gates[at];
        if (indices[at] === target) {
          if (label >= 0 && label < classes) byClass[s][label]++;
          gateOnTarget[s] += gates[at];
        }
      }
    }
  }
  return selected.map((count, s) => {
    const discriminative = byClass[s].reduce((a, b) => a + b, 0);
    return {
      expert: s,
      selected: count,
      discriminativeByClass: byClass[s],
      discriminativeShare: count === 0 ? NaN : discriminative / count,
      discriminativeGateShare: gateTotal[s] === 0 ? NaN : gateOnTarget[s] / gateTotal[s],
    };
  });
}
