/**
 * Where the WebGPU step keeps an image model's weights: the trainable ones in one buffer (and their
 * gradients in a second with the same layout, so SGD is one dispatch over both), the batch-norm
 * moving statistics in a third. Each weight starts at a multiple of 64 floats (WebGPU's 256-byte
 * storage offset alignment), so each binds as its own range. Names are the tfjs model's weight
 * names; a PatchMoE's expert kernels (and biases) follow each other at one stride, so the experts
 * bind as one grouped range.
 */
import type { ImageModelLayers, PatchMoeSpec } from '../../models/wrn-layers.js';

/** Floats per storage-offset alignment unit (256 bytes). */
export const ALIGN_FLOATS = 64;

const align = (floats: number) => Math.ceil(floats / ALIGN_FLOATS) * ALIGN_FLOATS;

export interface WeightSlot {
  /** The tfjs weight name (`<layer>/kernel`, `<layer>_bn/gamma`, ...). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** First float in its buffer. */
  readonly offset: number;
  readonly trainable: boolean;
}

export interface ParameterLayout {
  readonly weights: ReadonlyMap<string, WeightSlot>;
  /** Floats of the trainable buffer (and of the gradients). */
  readonly trainableFloats: number;
  /** Floats of the moving-statistics buffer. */
  readonly stateFloats: number;
}

/** Floats from one expert's kernel (or bias) to the next's in a layout. */
export function expertStride(layout: ParameterLayout, layer: PatchMoeSpec, what: 'kernel' | 'bias'): number {
  if (layer.experts === 1) return align(layout.weights.get(`${layer.name}/expert0/${what}`)!.size);
  return layout.weights.get(`${layer.name}/expert1/${what}`)!.offset - layout.weights.get(`${layer.name}/expert0/${what}`)!.offset;
}

/** The weights each layer of a description has, in its order. */
export function parameterLayout(description: ImageModelLayers): ParameterLayout {
  const weights = new Map<string, WeightSlot>();
  let trainable = 0;
  let state = 0;
  const add = (name: string, shape: readonly number[], isTrainable = true) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const offset = isTrainable ? trainable : state;
    weights.set(name, { name, shape, size, offset, trainable: isTrainable });
    if (isTrainable) trainable += align(size);
    else state += align(size);
  };
  for (const layer of description.layers) {
    switch (layer.kind) {
      case 'conv':
        add(`${layer.name}/kernel`, [layer.kernelSize, layer.kernelSize, layer.inputShape[2], layer.outputShape[2]]);
        add(`${layer.name}/bias`, [layer.outputShape[2]]);
        break;
      case 'bn-relu': {
        const channels = layer.outputShape[2];
        add(`${layer.name}_bn/gamma`, [channels]);
        add(`${layer.name}_bn/beta`, [channels]);
        add(`${layer.name}_bn/moving_mean`, [channels], false);
        add(`${layer.name}_bn/moving_variance`, [channels], false);
        break;
      }
      case 'patch-moe': {
        const channels = layer.inputShape[2];
        add(`${layer.name}/router/kernel`, [layer.patch.height * layer.patch.width * channels, layer.experts]);
        for (let s = 0; s < layer.experts; s++) add(`${layer.name}/expert${s}/kernel`, [layer.kernelSize, layer.kernelSize, channels, layer.filtersPerExpert]);
        for (let s = 0; s < layer.experts; s++) add(`${layer.name}/expert${s}/bias`, [layer.filtersPerExpert]);
        break;
      }
      case 'dense':
        add(`${layer.name}/kernel`, [layer.inputUnits, layer.outputShape[0]]);
        add(`${layer.name}/bias`, [layer.outputShape[0]]);
        break;
      default:
        break;
    }
  }
  return { weights, trainableFloats: trainable, stateFloats: state };
}
