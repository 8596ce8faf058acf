import type * as tf from '@tensorflow/tfjs-core';
import type { Routing } from '../routing/route.js';

/** What a trainer needs of a model that reads patch tensors [batch, n, d]. */
export interface PatchModel {
  readonly classes: number;
  /** Logits [batch, 1] for binary (the paper's f), [batch, classes] otherwise. */
  forward(patches: tf.Tensor3D): tf.Tensor2D;
  /** Variables that SGD updates; fixed output weights are not among them. */
  trainableVariables(): tf.Variable[];
  /** Every weight by name, trainable or not, for saving and inspection. */
  namedWeights(): Record<string, tf.Tensor>;
  dispose(): void;
}

/**
 * `patches` as the [batch, n, d] patch tensor a two-layer model of `n` patches of `d` values reads,
 * or a RangeError naming the expected shape.
 */
export function checkPatches(patches: tf.Tensor, patchCount: number, patchDim: number, caller: string): tf.Tensor3D {
  if (patches.rank !== 3 || patches.shape[1] !== patchCount || patches.shape[2] !== patchDim) {
    throw new RangeError(`${caller}: patches must be [batch, ${patchCount}, ${patchDim}] ([batch, n, d]); got [${patches.shape.join(', ')}]`);
  }
  return patches as tf.Tensor3D;
}

/** A model that routes patches to experts and can show its routing. */
export interface RoutedPatchModel extends PatchModel {
  forwardWithRouting(patches: tf.Tensor3D): { logits: tf.Tensor2D; routing: Routing };
  /** The routing alone (no expert forward): what routing statistics read. */
  routing(patches: tf.Tensor3D): Routing;
  /** Router weights [d, k]. */
  readonly routers: tf.Variable<tf.Rank.R2>;
  /** Expert hidden weights [k, d, neuronsPerExpert]. */
  readonly experts: tf.Variable<tf.Rank.R3>;
}
