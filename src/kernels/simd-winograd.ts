import { moduleBytes } from './module-bytes.js';
import { fusedMultiplyAdd } from './simd-gemm.js';

/**
 * The Winograd convolution kernels (src/kernels/winograd.wat, where each one's contract is),
 * compiled and bound; winograd-conv.ts drives them. Assembled like gemm.wat: with relaxed SIMD's
 * fused multiply-add where fusedMultiplyAdd() says so, and a variant importing a shared memory
 * (the two-thread arena of gemm-threads.ts).
 */
export interface WinogradKernels {
  /** The tiles tileStart .. tileEnd - 1 of a convolution described by the parameter block at `params`. */
  winogradForward(params: number): void;
  /** The transformed-domain sums of a filter gradient, one float32 block per chunk of tiles. */
  winogradFilterGradient(params: number): void;
  winogradTransformFilter(m: number, ci: number, co: number, g: number, u: number, plane: number, ldu: number, flipped: number, work: number): void;
  winogradFilterGradientOut(m: number, ci: number, ciOut: number, co: number, sums: number, dw: number): void;
  winogradSumChunks(count: number, chunks: number, partials: number, stride: number, out: number): void;
}

/** The module's bytes: `fused` with relaxed SIMD's multiply-add, `shared` importing a shared memory. */
export function winogradModuleBytes(fused: boolean, shared = false): Uint8Array<ArrayBuffer> {
  return moduleBytes(`winograd${fused ? '-fma' : ''}${shared ? '-shared' : ''}`);
}

let compiled: WebAssembly.Module | null | undefined;

/** The kernels bound to an existing (plain) memory, or null where SIMD or the binding is unavailable. */
export function bindWinograd(memory: WebAssembly.Memory): WinogradKernels | null {
  if (compiled === undefined) {
    try {
      const bytes = winogradModuleBytes(fusedMultiplyAdd());
      compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  try {
    return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as WinogradKernels;
  } catch {
    return null;
  }
}
