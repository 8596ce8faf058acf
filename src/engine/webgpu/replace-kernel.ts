import * as tf from '@tensorflow/tfjs-core';

const replaced = new Set<string>();

/**
 * Replaces the webgpu backend's kernel `kernelName` by `kernelFunc`, which gets the original to run
 * for what it leaves. Once per kernel; nothing happens before the backend has registered it.
 */
export function replaceWebgpuKernel(kernelName: string, kernelFunc: (args: Parameters<tf.KernelFunc>[0], original: tf.KernelFunc) => tf.TensorInfo): void {
  const original = tf.getKernel(kernelName, 'webgpu');
  if (!original || replaced.has(kernelName)) return;
  replaced.add(kernelName);
  tf.unregisterKernel(kernelName, 'webgpu');
  tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: (args) => kernelFunc(args, original.kernelFunc) });
}
