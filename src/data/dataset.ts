import type { SpuriousLayout } from './spurious.js';

/**
 * A set of images already cut into patches: the typed value every model and trainer reads.
 * Symbols of the paper: n = patchCount, d = patchDim.
 */
export interface PatchDataset {
  /** Row-major [count, patchCount, patchDim]. */
  readonly patches: Float32Array;
  /** Class index per sample, 0..classes-1. Binary: class 0 is y = +1 (pattern o_1), class 1 is y = -1 (o_2). */
  readonly labels: Int32Array;
  /** Index of each sample's class-discriminative patch, or -1 where the source does not know it. */
  readonly discriminativePatch: Int32Array;
  readonly count: number;
  /** n: patches per sample. */
  readonly patchCount: number;
  /** d: values per patch. */
  readonly patchDim: number;
  readonly classes: number;
  /** l* of this set where the source can compute it (the paper's data model), else undefined. */
  readonly lStar?: number;
  /** Where the set carries a spurious feature (./spurious.ts): each sample's spurious item and the patch holding it. */
  readonly spurious?: SpuriousLayout;
}

/** Binary labels in the paper's {+1, -1} convention. */
export function signedLabel(classIndex: number): 1 | -1 {
  return classIndex === 0 ? 1 : -1;
}

/** The samples at the given positions, as a new dataset. */
export function selectSamples(data: PatchDataset, indices: ArrayLike<number>): PatchDataset {
  const size = data.patchCount * data.patchDim;
  const patches = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  const discriminativePatch = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i];
    if (!Number.isInteger(src) || src < 0 || src >= data.count) {
      throw new RangeError(`sample index ${src} is outside 0..${data.count - 1}`);
    }
    patches.set(data.patches.subarray(src * size, (src + 1) * size), i * size);
    labels[i] = data.labels[src];
    discriminativePatch[i] = data.discriminativePatch[src];
  }
  const spurious = data.spurious && {
    values: Int32Array.from(indices, (i) => data.spurious!.values[i]),
    patch: Int32Array.from(indices, (i) => data.spurious!.patch[i]),
  };
  return { ...data, patches, labels, discriminativePatch, count: indices.length, lStar: undefined, spurious };
}
