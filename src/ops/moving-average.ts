import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/**
 * A moving average's update, moving - (moving - value) (1 - momentum), in float32 as tfjs-layers'
 * BatchNormalization computes it, as one kernel on cpu and wasm. Why: batch norm updates its
 * moving mean and variance inside the training step's gradient tape, where the three tf ops
 * (Sub, Mul, Sub) clone their saved inputs for a backward pass that never comes: nine kernels
 * per statistic, 83-87 us on wasm within a tape against 6.6 us for this one (measured), and a Wide-ResNet step
 * updates 14. It has no gradient: nothing differentiates a moving statistic. Other backends run
 * the three tf ops, which are also the reference the tests compare with.
 */
const MOVING_AVERAGE = 'PmoeMovingAverage';
const BACKENDS = ['cpu', 'wasm'] as const;

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}

const isWasm = (backend: object): backend is BackendWasm => 'typedArrayFromHeap' in backend;

function movingAverageKernel(args: KernelArgs): tf.TensorInfo {
  const { moving, value } = args.inputs as { moving: tf.TensorInfo; value: tf.TensorInfo };
  const keep = Math.fround(1 - (args.attrs as { momentum: number }).momentum);
  const read = (info: tf.TensorInfo) =>
    (isWasm(args.backend) ? args.backend.typedArrayFromHeap(info) : (args.backend as MathBackendCPU).readSync(info.dataId)) as Float32Array;
  const [current, batch] = [read(moving), read(value)];
  const update = (out: Float32Array) => {
    for (let i = 0; i < out.length; i++) out[i] = current[i] - Math.fround(Math.fround(current[i] - batch[i]) * keep);
  };
  if (isWasm(args.backend)) {
    const info = args.backend.makeOutput(moving.shape, 'float32');
    update(args.backend.typedArrayFromHeap(info) as Float32Array);
    return info;
  }
  const out = new Float32Array(tf.util.sizeFromShape(moving.shape));
  update(out);
  return (args.backend as MathBackendCPU).makeTensorInfo(moving.shape, 'float32', out);
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
