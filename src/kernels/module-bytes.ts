import { MODULES } from './modules.generated.js';

/**
 * The assembled kernel modules (gemm.wat, batch-norm.wat; see scripts/assemble-kernels.mjs):
 * `gemm` with a separate multiply and add, `gemm-fma` with relaxed SIMD's fused multiply-add,
 * each also `-shared` (importing a shared memory of at most SHARED_MAX_PAGES), and `batch-norm`.
 */
export type KernelModule = keyof typeof MODULES;
export { SHARED_MAX_PAGES } from './modules.generated.js';

/** A module's bytes (a fresh copy). */
export function moduleBytes(name: KernelModule): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(MODULES[name]), (ch) => ch.charCodeAt(0));
}
