/**
 * What a pair of classes offers a linear router, measured on the data alone. Separate training's
 * router loss is linear in the router weights, so its gradient for class c's expert is the sum of
 * that class's patches minus the other's: the filler patches, drawn alike in both classes, cancel in
 * expectation and the weights grow along the class-mean difference w = mu_c - mu_other. Whether the
 * class item then outranks the fillers is a property of the pair:
 *
 * - `meanDirectionRate`: the share of composed samples (n - 1 fillers drawn as the grids draw them)
 *   whose class item is among the top l patches by <w, patch>, for each class with its own w,
 *   averaged over the two classes: the routing rate of a router that has learned exactly w.
 * - `projectionMargin`: (mean of <w, x> over the class item's images - the largest mean over a
 *   filler item's images) / the standard deviation of <w, x> over all their images, for each
 *   class, the smaller of the two: how far the class item stands out along w from its nearest filler.
 */
import { turnEventLoop } from '../util/event-loop.js';
import { createRng } from '../util/random.js';
import { indicesByDigit, type MnistSplit } from '../data/mnist.js';

export interface PairSeparability {
  readonly meanDirectionRate: number;
  readonly projectionMargin: number;
}

/** Mean image of every class 0..9 (pixel / 255) and each image's projection on each mean: [count, 10]. */
export interface ClassProjections {
  readonly split: MnistSplit;
  readonly byClass: readonly Int32Array[];
  /** Row-major [count, 10]: <mu_c, x_i>. */
  readonly projections: Float64Array;
}

/** Images projected between two turns of the event loop, so that a signal handler (Ctrl-C) runs soon. */
const IMAGES_PER_TURN = 2000;

/**
 * Projections of every image on every class mean (computed once per split; about 0.5 G
 * multiply-adds for 60,000 images). The event loop turns every IMAGES_PER_TURN images.
 */
export async function classProjections(split: MnistSplit): Promise<ClassProjections> {
  const d = split.rows * split.cols;
  const byClass = indicesByDigit(split);
  const means = byClass.map((indices) => {
    const mean = new Float64Array(d);
    for (const i of indices) for (let k = 0; k < d; k++) mean[k] += split.images[i * d + k];
    for (let k = 0; k < d; k++) mean[k] /= 255 * Math.max(1, indices.length);
    return mean;
  });
  const projections = new Float64Array(split.count * 10);
  for (let i = 0; i < split.count; i++) {
    if (i > 0 && i % IMAGES_PER_TURN === 0) await turnEventLoop();
    const row = split.images.subarray(i * d, (i + 1) * d);
    for (let c = 0; c < 10; c++) {
      const mean = means[c];
      let sum = 0;
      for (let k = 0; k < d; k++) sum += mean[k] * row[k];
      projections[i * 10 + c] = sum / 255;
    }
  }
  return { split, byClass, projections };
}

export interface SeparabilityOptions {
  /** n, patches per sample. */
  readonly patchCount: number;
  /** l, patches the router keeps per expert. */
  readonly patchesPerExpert: number;
  /** Composed samples per class for the rate. */
  readonly samples?: number;
  readonly seed?: number;
}

/** The separability of classes `classes` (two items) against the filler items `fillers`. */
export function pairSeparability(
  data: ClassProjections,
  classes: readonly [number, number],
  fillers: readonly number[],
  options: SeparabilityOptions,
): PairSeparability {
  const { patchCount: n, patchesPerExpert: l, samples = 2000, seed = 0 } = options;
  const { byClass, projections } = data;
  for (const c of [...classes, ...fillers]) if (byClass[c].length === 0) throw new RangeError(`pairSeparability: the split holds no image of class ${c}`);
  const rng = createRng(`pair-separability:${seed}:${classes.join(',')}`);
  // <w, x> for w = mu_own - mu_other.
  const score = (i: number, own: number, other: number) => projections[i * 10 + own] - projections[i * 10 + other];
  let rateSum = 0;
  let margin = Infinity;
  for (const [own, other] of [classes, [classes[1], classes[0]]] as const) {
    let hits = 0;
    for (let s = 0; s < samples; s++) {
      const item = byClass[own][rng.int(byClass[own].length)];
      const target = score(item, own, other);
      let above = 0;
      for (let j = 1; j < n; j++) {
        const filler = byClass[fillers[rng.int(fillers.length)]];
        if (score(filler[rng.int(filler.length)], own, other) > target) above++;
      }
      if (above < l) hits++;
    }
    rateSum += hits / samples;

    const meanOf = (indices: Int32Array) => indices.reduce((sum, i) => sum + score(i, own, other), 0) / indices.length;
    const ownMean = meanOf(byClass[own]);
    const nearestFiller = Math.max(...fillers.map((f) => meanOf(byClass[f])));
    const all = [own, ...fillers].flatMap((c) => Array.from(byClass[c]));
    const mean = all.reduce((sum, i) => sum + score(i, own, other), 0) / all.length;
    const std = Math.sqrt(all.reduce((sum, i) => sum + (score(i, own, other) - mean) ** 2, 0) / all.length);
    margin = Math.min(margin, (ownMean - nearestFiller) / std);
  }
  return { meanDirectionRate: rateSum / 2, projectionMargin: margin };
}
