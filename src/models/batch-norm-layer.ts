import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { BatchNormalization, BatchNormalizationLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/normalization.js';
import { batchNormTraining } from '../ops/batch-norm-training.js';
import { movingAverage } from '../ops/moving-average.js';

/** tfjs-layers exports the layer's factory, not its class. */
const BatchNormalizationBase = tfl.layers.batchNormalization({}).constructor as typeof BatchNormalization;

/** The base class's private state this subclass reads (same names in tfjs-layers 4.x). */
interface BaseState {
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly gamma: tfl.LayerVariable | null;
  readonly beta: tfl.LayerVariable | null;
  readonly movingMean: tfl.LayerVariable;
  readonly movingVariance: tfl.LayerVariable;
}

/**
 * tfjs-layers' BatchNormalization whose training-mode forward pass (batch statistics over every
 * axis but the last, moving averages updated the same way) is the fused op of
 * ops/batch-norm-training.ts. Inference, other axes and layers without gamma or beta run the
 * base class. Same weights, config and class name, so saved models load as plain Keras layers.
 */
export class TrainingBatchNormalization extends BatchNormalizationBase {
  static override className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const state = this as unknown as BaseState;
    const lastAxis = state.axis === -1 || state.axis === input.rank - 1;
    if (kwargs['training'] !== true || !lastAxis || (Array.isArray(inputs) && inputs.length !== 1) || state.gamma === null || state.beta === null) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTraining(input, state.gamma!.read() as tf.Tensor1D, state.beta!.read() as tf.Tensor1D, state.epsilon);
      // moving <- moving - (moving - batch value) (1 - momentum), as the base class.
      for (const [variable, value] of [
        [state.movingMean, mean],
        [state.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          variable.write(movingAverage(variable.read(), value, state.momentum));
        });
      }
      return y;
    });
  }
}

export function trainingBatchNormalization(args: BatchNormalizationLayerArgs): TrainingBatchNormalization {
  return new TrainingBatchNormalization(args);
}
