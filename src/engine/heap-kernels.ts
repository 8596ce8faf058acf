import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { bindGemm, type Kernels } from './simd-gemm.js';

const bound = new WeakMap<WebAssembly.Memory, Kernels | null>();

/**
 * The SIMD GEMM kernels bound to the wasm backend's own memory, so that they read and write
 * tensors in place; null where that memory is not a plain one (threaded build) or SIMD is missing.
 */
export function heapKernels(backend: BackendWasm): Kernels | null {
  const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  if (!bound.has(memory)) bound.set(memory, bindGemm(memory));
  return bound.get(memory) ?? null;
}
