import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { integer, oneOf, parseOptions, real } from '../util/options.js';
import { initStd, INIT_SCHEMES } from './init.js';
import { tfSeed } from '../util/random.js';
import { makeOutputWeights, OUTPUT_WEIGHTS } from './output-weights.js';
import { checkPatches, type PatchModel } from './patch-model.js';

/**
 * The paper's two-layer CNN (eq. 5): f_C(x) = sum_r a_r (1/n) sum_j ReLU(<w_r, x^(j)>).
 * Symbols: n = patchCount, d = patchDim, m = neurons.
 */
export const twoLayerCnnSchema = z
  .object({
    patchCount: integer(1),
    patchDim: integer(1),
    /** m; the paper uses 40 (the official code 4). */
    neurons: integer(1).default(40),
    classes: integer(2).default(2),
    outputWeights: oneOf(OUTPUT_WEIGHTS).default('gaussian'),
    init: oneOf(INIT_SCHEMES).default('paper'),
    /** Overrides the init scheme's standard deviation of w_r. */
    hiddenInitStd: real(0).optional(),
    seed: integer(0).default(0),
  })
  .strict();

export type TwoLayerCnnOptions = z.input<typeof twoLayerCnnSchema>;
export type TwoLayerCnnConfig = z.output<typeof twoLayerCnnSchema>;

export class TwoLayerCnn implements PatchModel {
  readonly config: TwoLayerCnnConfig;
  /** w_r as columns: [d, m]. */
  readonly hidden: tf.Variable;
  /** a_r: [m, logits], fixed. */
  readonly output: tf.Tensor2D;

  constructor(options: TwoLayerCnnOptions) {
    const config = parseOptions(twoLayerCnnSchema, options, 'cnn');
    this.config = config;
    const std = config.hiddenInitStd ?? initStd(config.init, config.neurons).hidden;
    this.hidden = tf.variable(tf.randomNormal([config.patchDim, config.neurons], 0, std, 'float32', tfSeed(config.seed)));
    this.output = makeOutputWeights(config.outputWeights, config.neurons, 1, config.classes, config.seed + 1);
  }

  get classes(): number {
    return this.config.classes;
  }

  /**
   * The logits of `patches` [batch, n, d]: [batch, 1] for two classes (the paper's f), [batch,
   * classes] otherwise. The counterpart of a Layers model's predict, so that whatever loadModel
   * returns answers predict.
   */
  predict(patches: tf.Tensor): tf.Tensor2D {
    return this.forward(checkPatches(patches, this.config.patchCount, this.config.patchDim, 'TwoLayerCnn.predict'));
  }

  forward(patches: tf.Tensor3D): tf.Tensor2D {
    const [batch, n, d] = patches.shape;
    return tf.tidy(() => {
      const activations = tf.relu(tf.matMul(tf.reshape(patches, [batch * n, d]), this.hidden));
      const pooled = tf.mean(tf.reshape(activations, [batch, n, this.config.neurons]), 1);
      return tf.matMul(pooled as tf.Tensor2D, this.output);
    });
  }

  trainableVariables(): tf.Variable[] {
    return [this.hidden];
  }

  namedWeights(): Record<string, tf.Tensor> {
    return { hidden: this.hidden, output: this.output };
  }

  dispose(): void {
    this.hidden.dispose();
    this.output.dispose();
  }
}
