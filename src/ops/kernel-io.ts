import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** What tfjs hands a kernel function (the subset pmoe's kernels read). */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}

const isWasm = (backend: object): backend is BackendWasm => 'typedArrayFromHeap' in backend;

/** A tensor's values, without a copy (cpu: the stored array; wasm: a heap view). */
export function values(backend: object, info: tf.TensorInfo): Float32Array | Int32Array {
  if (isWasm(backend)) return backend.typedArrayFromHeap(info) as Float32Array | Int32Array;
  return (backend as MathBackendCPU).readSync(info.dataId) as Float32Array | Int32Array;
}

/** A new tensor of `shape` filled by `fill` (on wasm, written in place on the heap). */
export function output<T extends Float32Array | Int32Array>(
  backend: object,
  shape: number[],
  dtype: 'float32' | 'int32',
  fill: (out: T) => void,
): tf.TensorInfo {
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, dtype);
    fill(backend.typedArrayFromHeap(info) as T);
    return info;
  }
  const size = tf.util.sizeFromShape(shape);
  const out = (dtype === 'int32' ? new Int32Array(size) : new Float32Array(size)) as T;
  fill(out);
  return (backend as MathBackendCPU).makeTensorInfo(shape, dtype, out);
}
