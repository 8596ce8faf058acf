import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapBatchNormKernels } from '../kernels/heap-kernels.js';

/**
 * ReLU's gradient, dx = dy where x > 0 else 0, as one pass on wasm (simd-batch-norm.ts's
 * reluGrad) instead of tfjs's dy * cast(step(x)): three kernels and two activation-sized
 * temporaries per ReLU. Other backends keep tfjs's
 * formulation, which is also the reference the tests compare with.
 */
const RELU_GRAD = 'PmoeReluGrad';

function reluGradKernel(args: { inputs: tf.NamedTensorInfoMap; backend: object }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const out = backend.makeOutput(x.shape, 'float32');
  const size = tf.util.sizeFromShape(x.shape);
  const vectors = Math.floor(size / 4) * 4;
  const kernels = heapBatchNormKernels(backend);
  const address = (info: tf.TensorInfo) => backend.getMemoryOffset(info.dataId);
  if (kernels) kernels.reluGrad(vectors * 4, address(x), address(dy), address(out));
  const [xs, dys, outs] = [x, dy, out].map((info) => backend.typedArrayFromHeap(info) as Float32Array);
  for (let i = kernels ? vectors : 0; i < size; i++) outs[i] = xs[i] > 0 ? dys[i] : 0;
  return out;
}

const reluGradConfig: tf.GradConfig = {
  kernelName: 'Relu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    const dyTensor = dy as tf.Tensor;
    return {
      x: () =>
        tf.getBackend() === 'wasm' && x.dtype === 'float32' && dyTensor.dtype === 'float32'
          ? (tf.engine().runKernel(RELU_GRAD, { x, dy: dyTensor }) as tf.Tensor)
          : tf.mul(dyTensor, tf.cast(tf.step(x), 'float32')),
    };
  },
};

/** Registers the wasm kernel and replaces tfjs's Relu gradient (initEngine does). Idempotent. */
export function registerReluGradient(): void {
  if (tf.getKernel(RELU_GRAD, 'wasm') == null)
    tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as unknown as tf.KernelFunc });
  if (tf.getGradient('Relu') !== reluGradConfig) tf.registerGradient(reluGradConfig);
}
