import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { bindBatchNorm, type BatchNormKernels } from './simd-batch-norm.js';
import { bindGemm, type Kernels } from './simd-gemm.js';
import { bindWinograd, type WinogradKernels } from './simd-winograd.js';
import { heapMemory } from './wasm-internals.js';

function bindOnce<T>(bind: (memory: WebAssembly.Memory) => T | null) {
  const bound = new WeakMap<WebAssembly.Memory, T | null>();
  return (backend: BackendWasm): T | null => {
    const memory = heapMemory(backend);
    if (!bound.has(memory)) bound.set(memory, bind(memory));
    return bound.get(memory) ?? null;
  };
}

/**
 * The SIMD GEMM kernels bound to the wasm backend's own memory, so that they read and write
 * tensors in place; null where that memory is not a plain one (threaded build) or SIMD is missing.
 */
export const heapKernels = bindOnce<Kernels>(bindGemm);

/** The batch-norm kernels of simd-batch-norm.ts, bound the same way. */
export const heapBatchNormKernels = bindOnce<BatchNormKernels>(bindBatchNorm);

/** The Winograd convolution kernels of simd-winograd.ts, bound the same way. */
export const heapWinogradKernels = bindOnce<WinogradKernels>(bindWinograd);
