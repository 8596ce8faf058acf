/// <reference types="@webgpu/types" />
import { tf } from '../../src/engine/backend.js';
import { webgpuDevice } from '../../src/engine/webgpu/dawn.js';
import { bufferWith, readFloats, storageBuffer } from '../../src/kernels/wgsl/gpu-buffers.js';
import { KernelRunner, recordDispatches, type BufferRange } from '../../src/kernels/wgsl/kernel-runner.js';
import type { WgslKernel } from '../../src/kernels/wgsl/kernel.js';
import { webgpuSkipReason } from './webgpu-adapter.js';

/**
 * The WebGPU device for kernel tests (SwiftShader where there is no GPU), with the cpu backend made
 * the tfjs backend for the references; or why there is none (for `skip`).
 */
export async function kernelTestDevice(): Promise<{ runner?: KernelRunner; skip?: string }> {
  const skip = await webgpuSkipReason();
  if (skip) return { skip };
  const device = webgpuDevice()!;
  await tf.setBackend('cpu');
  return { runner: new KernelRunner(device) };
}

/** Runs kernels with their buffers in order in one compute pass and submission. */
export async function runKernels(runner: KernelRunner, steps: readonly (readonly [WgslKernel, readonly (GPUBuffer | BufferRange)[]])[]): Promise<void> {
  const bound = await Promise.all(
    steps.map(([kernel, buffers]) =>
      runner.bind(
        kernel,
        buffers.map((b) => ('buffer' in b ? b : { buffer: b })),
      ),
    ),
  );
  const encoder = runner.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  recordDispatches(pass, bound);
  pass.end();
  runner.device.queue.submit([encoder.finish()]);
}

export const upload = (runner: KernelRunner, values: Float32Array | Int32Array | Uint32Array) => bufferWith(runner.device, values, 'test input');
export const output = (runner: KernelRunner, words: number) => storageBuffer(runner.device, words, 'test output');
export const download = (runner: KernelRunner, buffer: GPUBuffer, words: number) => readFloats(runner.device, buffer, words);

/** max |a - b| / max(max |b|, floor), for comparisons whose expected values may all be tiny. */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) throw new Error(`lengths ${actual.length} and ${expected.length}`);
  let difference = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return difference / scale;
}
