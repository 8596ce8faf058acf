/**
 * What a trained model learned from data with a spurious feature (../data/spurious.ts): accuracy
 * per group (class x spurious item) on the balanced test set, the worst group's, accuracy on the
 * reversed set, and for pMoE which of the two patches, the class's and the spurious one, each
 * expert's router takes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { PatchDataset } from '../data/dataset.js';
import type { SpuriousLayout } from '../data/spurious.js';
import type { RoutedPatchModel } from '../models/patch-model.js';
import { PatchMoE } from '../routing/patch-moe-layer.js';
import { patchGrid } from '../routing/patchify.js';
import { collectRouting } from './routing-rate.js';

export interface SpuriousGroup {
  /** Class index. */
  readonly class: number;
  /** The class whose spurious item the group's images carry. */
  readonly item: number;
  readonly name: string;
  readonly count: number;
  /** Share of the group's images classified correctly (NaN for an empty group). */
  readonly accuracy: number;
}

/** Which patch each expert takes, on the balanced test set. */
export interface SpuriousRouting {
  /**
   * 'images' (two-layer pMoE): the share of images whose patch is among the expert's l; 'patches'
   * (WRN-pMoE, routing over a feature map): the share of the expert's l positions inside the
   * patch's quadrant (1/4 by chance).
   */
  readonly unit: 'images' | 'patches';
  /** Per expert; truePatch[c] over the images of class c, spuriousPatch[j] over the images carrying item j. */
  readonly experts: readonly { readonly truePatch: readonly number[]; readonly spuriousPatch: readonly number[] }[];
}

export interface SpuriousMetrics {
  /** s of the training set. */
  readonly strength: number;
  readonly classNames: readonly string[];
  readonly itemNames: readonly string[];
  /** Balanced test set, class-major: group c * classes + j is class c with item j. */
  readonly groups: readonly SpuriousGroup[];
  /** Accuracy on the whole balanced set. */
  readonly balancedAccuracy: number;
  /** The smallest group accuracy. */
  readonly worstGroupAccuracy: number;
  /** Accuracy where the item is never the class's own. */
  readonly reversedAccuracy: number;
  /** 'reversed set': a set of its own; 'minority groups': the balanced set's groups whose item is not the class's (CelebA). */
  readonly reversedFrom: 'reversed set' | 'minority groups';
  readonly routing?: SpuriousRouting;
}

const share = (hits: number, total: number) => (total === 0 ? NaN : hits / total);

/** Group accuracies of `predicted` against `labels`, groups class x item. */
export function spuriousGroups(
  labels: ArrayLike<number>,
  items: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[],
  itemNames: readonly string[],
): SpuriousGroup[] {
  const classes = classNames.length;
  const counts = new Array<number>(classes * classes).fill(0);
  const correct = new Array<number>(classes * classes).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const g = labels[i] * classes + items[i];
    counts[g]++;
    if (predicted[i] === labels[i]) correct[g]++;
  }
  return counts.map((count, g) => {
    const c = Math.floor(g / classes);
    const j = g % classes;
    return { class: c, item: j, name: `${classNames[c]}, ${itemNames[j]}`, count, accuracy: share(correct[g], count) };
  });
}

function accuracyOf(labels: ArrayLike<number>, predicted: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return share(correct, labels.length);
}

/** The smallest finite accuracy of the non-empty groups. */
export function worstGroup(groups: readonly SpuriousGroup[]): number {
  const measured = groups.filter((g) => g.count > 0).map((g) => g.accuracy);
  return measured.length === 0 ? NaN : Math.min(...measured);
}

export interface LabelledPredictions {
  readonly labels: ArrayLike<number>;
  readonly items: ArrayLike<number>;
  readonly predicted: ArrayLike<number>;
}

/** The metrics of predictions on a balanced and a reversed set. */
export function spuriousMetrics(
  names: { readonly strength: number; readonly classNames: readonly string[]; readonly itemNames: readonly string[] },
  balanced: LabelledPredictions,
  reversed: LabelledPredictions,
  routing?: SpuriousRouting,
): SpuriousMetrics {
  const groups = spuriousGroups(balanced.labels, balanced.items, balanced.predicted, names.classNames, names.itemNames);
  return {
    strength: names.strength,
    classNames: names.classNames,
    itemNames: names.itemNames,
    groups,
    balancedAccuracy: accuracyOf(balanced.labels, balanced.predicted),
    worstGroupAccuracy: worstGroup(groups),
    reversedAccuracy: accuracyOf(reversed.labels, reversed.predicted),
    reversedFrom: 'reversed set',
    ...(routing ? { routing } : {}),
  };
}

/**
 * The metrics of a balanced test set whose groups are given (CelebA's smiling x hair colour): the
 * reversed accuracy is then the accuracy over the groups whose item is not the class's own.
 */
export function spuriousMetricsOfGroups(
  names: { readonly strength: number; readonly classNames: readonly string[]; readonly itemNames: readonly string[] },
  balanced: LabelledPredictions,
): SpuriousMetrics {
  const groups = spuriousGroups(balanced.labels, balanced.items, balanced.predicted, names.classNames, names.itemNames);
  const minority = Array.from({ length: balanced.labels.length }, (_, i) => i).filter((i) => balanced.items[i] !== balanced.labels[i]);
  return {
    strength: names.strength,
    classNames: names.classNames,
    itemNames: names.itemNames,
    groups,
    balancedAccuracy: accuracyOf(balanced.labels, balanced.predicted),
    worstGroupAccuracy: worstGroup(groups),
    reversedAccuracy: accuracyOf(
      minority.map((i) => balanced.labels[i]),
      minority.map((i) => balanced.predicted[i]),
    ),
    reversedFrom: 'minority groups',
  };
}

/** Two-layer pMoE: per expert, the share of images whose true (spurious) patch is among its l. */
export function patchRoutingShares(model: RoutedPatchModel, data: PatchDataset & { readonly spurious: SpuriousLayout }): SpuriousRouting {
  const routing = collectRouting(model, data);
  const { experts: k, patchesPerExpert: l, indices } = routing;
  const classes = data.classes;
  const takes = (i: number, s: number, patch: number) => {
    for (let t = 0; t < l; t++) if (indices[(i * k + s) * l + t] === patch) return true;
    return false;
  };
  return {
    unit: 'images',
    experts: Array.from({ length: k }, (_, s) =>
      sharesFor(data.count, classes, data.labels, data.spurious.values, (i, which) =>
        takes(i, s, which === 'true' ? data.discriminativePatch[i] : data.spurious.patch[i]) ? 1 : 0,
      ),
    ),
  };
}

/** Per class (true) and per item (spurious): the mean of `score` over the images. */
function sharesFor(
  count: number,
  classes: number,
  labels: ArrayLike<number>,
  items: ArrayLike<number>,
  score: (image: number, which: 'true' | 'spurious') => number,
): { truePatch: number[]; spuriousPatch: number[] } {
  const trueSum = new Array<number>(classes).fill(0);
  const trueCount = new Array<number>(classes).fill(0);
  const itemSum = new Array<number>(classes).fill(0);
  const itemCount = new Array<number>(classes).fill(0);
  for (let i = 0; i < count; i++) {
    trueSum[labels[i]] += score(i, 'true');
    trueCount[labels[i]]++;
    itemSum[items[i]] += score(i, 'spurious');
    itemCount[items[i]]++;
  }
  return { truePatch: trueSum.map((sum, c) => share(sum, trueCount[c])), spuriousPatch: itemSum.map((sum, j) => share(sum, itemCount[j])) };
}

/** The quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of patch `patch` of a rows x cols grid in row-major order. */
export function quadrantOfPatch(patch: number, rows: number, cols: number): number {
  return (Math.floor(patch / cols) < rows / 2 ? 0 : 2) + (patch % cols < cols / 2 ? 0 : 1);
}

/**
 * WRN-pMoE: per expert, the share of its l routed positions of the feature map that lie in the
 * class object's quadrant, and in the spurious item's (quadrants 0 top-left .. 3 bottom-right of
 * the map, as of the image). Undefined for a model without a PatchMoE layer.
 */
export function imageRoutingShares(
  model: tfl.LayersModel,
  set: {
    readonly images: Float32Array;
    readonly labels: Int32Array;
    readonly shape: readonly number[];
    readonly spurious: SpuriousLayout;
    readonly objectPatch: Int32Array;
  },
  classes: number,
  batchSize = 256,
): SpuriousRouting | undefined {
  const moe = model.layers.find((layer): layer is PatchMoE => layer instanceof PatchMoE);
  if (!moe) return undefined;
  // The map the layer routes over, in inference mode (batch norm with its moving statistics).
  const features = tfl.model({ inputs: model.inputs, outputs: moe.input as tfl.SymbolicTensor });
  const [count, h, w, c] = set.shape;
  const size = h * w * c;
  const chunks: Int32Array[] = [];
  let k = 0;
  let l = 0;
  let grid: { rows: number; cols: number } | undefined;
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const x = tf.tensor4d(set.images.subarray(start * size, end * size), [end - start, h, w, c]);
    const map = features.predict(x) as tf.Tensor4D;
    const patch = moe.settings.patchSize;
    grid ??= patchGrid(map.shape[1], map.shape[2], typeof patch === 'number' ? { height: patch, width: patch } : { height: patch[0], width: patch[1] });
    const routing = moe.routing(map);
    [, k, l] = routing.indices.shape;
    chunks.push(routing.indices.dataSync() as Int32Array);
    tf.dispose([x, map, routing.indices, routing.gates]);
  }
  const { rows, cols } = grid!;
  const indices = new Int32Array(count * k * l);
  chunks.reduce((offset, chunk) => (indices.set(chunk, offset), offset + chunk.length), 0);
  return {
    unit: 'patches',
    experts: Array.from({ length: k }, (_, s) =>
      sharesFor(count, classes, set.labels, set.spurious.values, (i, which) => {
        const quadrant = which === 'true' ? set.objectPatch[i] : set.spurious.patch[i];
        let inside = 0;
        for (let t = 0; t < l; t++) if (quadrantOfPatch(indices[(i * k + s) * l + t], rows, cols) === quadrant) inside++;
        return inside / l;
      }),
    ),
  };
}
