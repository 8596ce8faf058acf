import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { integer } from '../../util/options.js';
import type { Router, RouterInput, RouterShape, SoftDispatch } from '../router.js';
import { auxiliaryWeights } from '../sparse-router.js';

/**
 * Soft MoE (Puigcerver et al. 2023, "From Sparse to Soft Mixtures of Experts"; vmoe's
 * projects/soft_moe/router.py): every expert has p slots, each a convex mix of all of its image's
 * patches. Patches and slot parameters are L2-normalised (x / sqrt(|x|^2 + 1e-6)) and their
 * products scaled by a learned scalar (initially 1): logits [batch, n, k p]. Dispatch weights
 * are a softmax over the n patches (each slot mixes patches), combine weights a softmax over the
 * k p slots (each patch mixes the slots' outputs). No patch is dropped and no expert idles; nothing
 * is sparse. The slot parameters are the router kernel [d, k p], slot t of expert s at column s p + t.
 * Matched compute with the paper's router: p = l (the default).
 */
export const softMoeSchema = z
  .object({
    name: z.literal('soft-moe'),
    /** p: slots per expert per image; default the model's l. */
    slotsPerExpert: integer(1).optional(),
  })
  .strict();
export type SoftMoeConfig = z.output<typeof softMoeSchema>;

/** The normalisation's epsilon (the Soft MoE code's). */
const EPSILON = 1e-6;

function normalise(x: tf.Tensor2D, axis: number): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), axis, true), EPSILON)));
}

export function createSoftMoe(config: SoftMoeConfig, shape: RouterShape): Router {
  const slots = config.slotsPerExpert ?? shape.patchesPerExpert;
  const resolved = { ...config, slotsPerExpert: slots };
  const { patches: n, experts: k } = shape;
  const reference = (input: RouterInput): SoftDispatch =>
    tf.tidy(() => {
      const scale = input.weights?.scale;
      if (!scale) throw new Error('soft-moe router: its weight `scale` is missing');
      const logits = tf.mul(tf.matMul(normalise(input.patches, 1), normalise(input.kernel, 0)), scale);
      const perImage = tf.reshape(logits, [input.batch, n, k * slots]) as tf.Tensor3D;
      return {
        kind: 'soft' as const,
        dispatch: tf.softmax(tf.transpose(perImage, [0, 2, 1])) as tf.Tensor3D,
        combine: tf.softmax(perImage) as tf.Tensor3D,
        slots,
        metrics: tf.zeros([4]) as tf.Tensor1D,
      };
    });
  return {
    config: resolved,
    shape,
    scoreColumns: k * slots,
    extraWeights: { scale: { shape: [], initialValue: 1 } },
    drawsNoise: false,
    auxiliaryWeights: auxiliaryWeights({}),
    differentiable: true,
    route: reference,
    reference,
  };
}
