import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../util/options.js';

/** Height and width of one patch, in pixels of the feature map. */
export interface PatchSize {
  readonly height: number;
  readonly width: number;
}

/** Grid of non-overlapping patches on a [height, width] map; n = rows * cols. */
export interface PatchGrid {
  readonly rows: number;
  readonly cols: number;
  readonly patch: PatchSize;
}

export function patchGrid(height: number, width: number, patch: PatchSize): PatchGrid {
  for (const [axis, size, extent] of [
    ['height', patch.height, height],
    ['width', patch.width, width],
  ] as const) {
    if (!Number.isInteger(size) || size < 1 || extent % size !== 0) {
      throw new OptionError(`patchSize.${axis} must be a positive integer that divides the input ${axis} ${extent}; got ${size}`);
    }
  }
  return { rows: height / patch.height, cols: width / patch.width, patch };
}

/** [batch, H, W, C] -> [batch, n, ph * pw * C], patches in row-major grid order, pixels row-major inside. */
export function patchify(images: tf.Tensor4D, patch: PatchSize): tf.Tensor3D {
  const [batch, height, width, channels] = images.shape;
  const { rows, cols } = patchGrid(height, width, patch);
  const outputShape: [number, number, number] = [batch, rows * cols, patch.height * patch.width * channels];
  if (swapIsIdentity(patch.height, cols)) return tf.reshape(images, outputShape);
  return tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(images, [batch, rows, patch.height, cols, patch.width, channels]), [0, 1, 3, 2, 4, 5]), outputShape));
}

/** Inverse of `patchify`: [batch, n, ph * pw * C] -> [batch, H, W, C]. */
export function unpatchify(patches: tf.Tensor3D, grid: PatchGrid, channels: number): tf.Tensor4D {
  const batch = patches.shape[0];
  const { rows, cols, patch } = grid;
  const outputShape: [number, number, number, number] = [batch, rows * patch.height, cols * patch.width, channels];
  if (swapIsIdentity(patch.height, cols)) return tf.reshape(patches, outputShape);
  return tf.tidy(() =>
    tf.reshape(tf.transpose(tf.reshape(patches, [batch, rows, cols, patch.height, patch.width, channels]), [0, 1, 3, 2, 4, 5]), outputShape),
  );
}

/** Swapping the patch-row and grid-column axes moves no data when either has size 1 (e.g. 1x1 patches): a reshape does. */
function swapIsIdentity(patchHeight: number, cols: number): boolean {
  return patchHeight === 1 || cols === 1;
}
