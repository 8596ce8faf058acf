import * as tf from '@tensorflow/tfjs-core';

/**
 * The same values as `tensor`, cut from the gradient tape (tfjs has no stopGradient).
 * Needed for integer selections such as top-k indices: tfjs differentiates through every tensor
 * on the path from a variable, and gather refuses an int32 gradient for its indices. The alias
 * shares the data (no copy, no readback); each of the two tensors holds its own reference to it.
 */
export function detach<T extends tf.Tensor>(tensor: T): T {
  const alias = tf.engine().makeTensorFromDataId(tensor.dataId, tensor.shape, tensor.dtype) as T;
  // What kernels that return their input's data (Reshape) do, so each tensor owns one reference.
  tf.backend().incRef(tensor.dataId);
  return alias;
}
