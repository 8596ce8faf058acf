import { relaxedSimdValidates } from './simd-gemm.js';

/**
 * Makes relaxed SIMD validate where the runtime allows it (Node 20: V8's process-wide flag) and
 * returns whether it does. pmoe's kernels do this themselves at their first product (see
 * fusedMultiplyAdd); call it to know beforehand, or for WebAssembly of your own.
 */
export function enableRelaxedSimd(): boolean {
  return relaxedSimdValidates();
}
