import * as tf from '@tensorflow/tfjs-core';

/** tf.tidy for results that hold tensors beside plain fields (dispatches): their tensors are kept, the rest disposed. */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
