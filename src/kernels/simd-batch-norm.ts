import { moduleBytes } from './module-bytes.js';

/**
 * The batch-norm kernels (src/kernels/batch-norm.wat, where each one's contract is): block sums
 * for the statistics and the gradient, the affine pass, float64 column sums, and the ReLU
 * gradient. Why not JS loops over the heap: several times slower per element and pass, with 5
 * passes per layer.
 */

type BlockSums = (rows: number, channels: number, block: number, u: number, shift: number, v: number, out: number) => void;
export interface BatchNormKernels {
  blockSums: BlockSums;
  blockSquares: BlockSums;
  affine: (rows: number, channels: number, u: number, a: number, v: number, s: number, b: number, c: number, out: number) => void;
  reluGrad: (bytes: number, x: number, dy: number, out: number) => void;
  columnSums: (rows: number, channels: number, x: number, out: number) => void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The kernels bound to an existing memory, or null where SIMD or the binding is unavailable. */
export function bindBatchNorm(memory: WebAssembly.Memory): BatchNormKernels | null {
  if (compiled === undefined) {
    try {
      const bytes = moduleBytes('batch-norm');
      compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  try {
    return new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as BatchNormKernels;
  } catch {
    return null;
  }
}
