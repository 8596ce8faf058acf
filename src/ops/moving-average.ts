import * as tf from '@tensorflow/tfjs-core';
import { output, values, type KernelArgs } from './kernel-io.js';

/**
 * A moving average's update, moving - (moving - value) (1 - momentum), in float32 as tfjs-layers'
 * BatchNormalization computes it, as one kernel on cpu and wasm. Why: batch norm updates its
 * moving mean and variance inside the training step's gradient tape, where the three tf ops
 * (Sub, Mul, Sub) clone their saved inputs for a backward pass that never comes: nine kernels
 * per statistic against one (docs/performance.md), and a Wide-ResNet step updates 14. It has no gradient: nothing differentiates a moving statistic.
 * Other backends run the three tf ops, which are also the reference the tests compare with.
 */
const MOVING_AVERAGE = 'PmoeMovingAverage';
const BACKENDS = ['cpu', 'wasm'] as const;

function movingAverageKernel(args: KernelArgs): tf.TensorInfo {
  const { moving, value } = args.inputs as { moving: tf.TensorInfo; value: tf.TensorInfo };
  const keep = Math.fround(1 - (args.attrs as { momentum: number }).momentum);
  const [current, batch] = [values(args.backend, moving), values(args.backend, value)];
  return output<Float32Array>(args.backend, moving.shape, 'float32', (out) => {
    for (let i = 0; i < out.length; i++) out[i] = current[i] - Math.fround(Math.fround(current[i] - batch[i]) * keep);
  });
}

/** moving - (moving - value) (1 - momentum), float32 vectors of one shape. */
export function movingAverage(moving: tf.Tensor, value: tf.Tensor, momentum: number): tf.Tensor {
  const backend = tf.getBackend();
  const fused = (BACKENDS as readonly string[]).includes(backend) && tf.getKernel(MOVING_AVERAGE, backend) != null;
  if (fused && moving.dtype === 'float32' && value.dtype === 'float32' && tf.util.arraysEqual(moving.shape, value.shape)) {
    return tf.engine().runKernel(MOVING_AVERAGE, { moving, value }, { momentum }) as tf.Tensor;
  }
  return movingAveragePlain(moving, value, momentum);
}

/** The reference: tfjs-layers' three ops. */
export function movingAveragePlain(moving: tf.Tensor, value: tf.Tensor, momentum: number): tf.Tensor {
  return tf.tidy(() => tf.sub(moving, tf.mul(tf.sub(moving, value), 1 - momentum)));
}

/** Registers the kernel on cpu and wasm (useFastKernels does). Idempotent. */
export function registerMovingAverage(): void {
  for (const backendName of BACKENDS) {
    if (tf.getKernel(MOVING_AVERAGE, backendName) == null) {
      tf.registerKernel({ kernelName: MOVING_AVERAGE, backendName, kernelFunc: movingAverageKernel as unknown as tf.KernelFunc });
    }
  }
}
