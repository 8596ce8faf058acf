import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Conv2D, ConvLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/convolutional.js';
import { fusedConvGradientInstalled } from '../ops/fused-conv-gradient.js';

/** tfjs-layers exports the layer's factory, not its class. */
const Conv2DBase = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as typeof Conv2D;

/** The base class's state this subclass reads (same names in tfjs-layers 4.x). */
interface BaseState {
  readonly kernel: tfl.LayerVariable;
  readonly bias: tfl.LayerVariable | null;
  readonly useBias: boolean;
  readonly strides: number[];
  readonly padding: 'valid' | 'same' | 'causal';
  readonly dataFormat: 'channelsFirst' | 'channelsLast';
  readonly dilationRate: number[];
  readonly activation: { getClassName(): string };
}

/**
 * tfjs-layers' Conv2D that runs the FusedConv2D kernel itself, with the gradient of
 * ops/fused-conv-gradient.ts, instead of through tfjs's fused op, whose custom gradient computes
 * the input gradient even where nothing uses it (a model's first convolution). The same kernel,
 * so the same outputs and gradients. Channels-first data, dilations, activations, layers without
 * a bias or without pmoe's kernels installed run the base class. Same weights, config and class
 * name, so saved models load as plain Keras layers.
 */
export class LazyGradientConv2D extends Conv2DBase {
  static override className = 'Conv2D';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const state = this as unknown as BaseState;
    const plain =
      (Array.isArray(inputs) && inputs.length !== 1) ||
      input.rank !== 4 ||
      state.dataFormat !== 'channelsLast' ||
      state.padding === 'causal' ||
      !state.useBias ||
      state.bias === null ||
      state.dilationRate.some((d) => d !== 1) ||
      state.activation.getClassName() !== 'linear' ||
      !fusedConvGradientInstalled();
    if (plain) return super.call(inputs, kwargs);
    return tf.engine().runKernel('FusedConv2D', { x: input, filter: state.kernel.read(), bias: state.bias!.read() }, {
      strides: state.strides,
      pad: state.padding,
      dataFormat: 'NHWC',
      dilations: [1, 1],
      activation: 'linear',
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
}

export function lazyGradientConv2d(args: ConvLayerArgs): LazyGradientConv2D {
  return new LazyGradientConv2D(args);
}
