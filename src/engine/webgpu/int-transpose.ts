import * as tf from '@tensorflow/tfjs-core';
import { shared } from '@tensorflow/tfjs-backend-cpu';
import { replaceWebgpuKernel } from './replace-kernel.js';

/**
 * tfjs-backend-webgpu 4.22's Transpose shader does not compile when its buffer holds integers
 * ("type mismatch for argument 2 in call to 'setOutputAtIndex'"): int32 and bool tensors, and
 * float32 ones cast from them (its casts to float32 keep the integer buffer). Routing transposes
 * its int32 patch indices, a few thousand numbers: those are read back and transposed on the CPU
 * (tfjs-backend-cpu's own implementation). Idempotent.
 */
interface Backend extends tf.KernelBackend {
  tensorMap: { get(id: object): { dtype: tf.DataType } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo;
}

export function fixIntTranspose(): void {
  replaceWebgpuKernel('Transpose', (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const backend = args.backend as Backend;
    if (backend.tensorMap.get(x.dataId).dtype === 'float32') return original(args) as tf.TensorInfo;
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    const values = backend.readSync(x.dataId) as tf.TypedArray;
    const shape = perm.map((axis) => x.shape[axis]);
    const typed = x.dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values);
    return backend.makeTensorInfo(shape, x.dtype, shared.transposeImpl(typed, x.shape, x.dtype, perm, shape));
  });
}
