import { moduleBytes } from './module-bytes.js';

/**
 * The batch-norm kernels (src/kernels/batch-norm.wat, where each one's contract is): block sums
 * for the statistics and the gradient, the affine pass, float64 column sums, and the ReLU
 * gradient. Why not JS loops over the heap: measured ~4 ns per element and pass, 5 passes per layer.
 */

type BlockSums = (rows: number, channels: number, block: number, u: number, shift: number, v: number, out: number) => void;
export interface BatchNormKernels {
  blockSums: BlockSums;
  blockSquares: BlockSums;
  affine: (rows: number, channels: number, u: number, a: number, v: number, s: number, b: number, c: number, out: number) => void;
  reluGrad: (bytes: number, x: number, dy: number, out: number) => void;
  columnSums: (rows: number, channels: number, x: number, out: number) => void;
  reluBlockSums: (rows: number, channels: number, block: number, u: number, shift: number, dy: number, y: number, dz: number, out: number) => void;
  affineRelu: (rows: number, channels: number, u: number, a: number, v: number, s: number, b: number, c: number, out: number) => void;
}

const compiled = new Map<boolean, WebAssembly.Module | null>();

/** The module importing a plain or (`shared`) a shared memory, or null where SIMD is unavailable. */
function batchNormModule(shared: boolean): WebAssembly.Module | null {
  if (!compiled.has(shared)) {
    let module: WebAssembly.Module | null = null;
    try {
      const bytes = moduleBytes(shared ? 'batch-norm-shared' : 'batch-norm');
      if (WebAssembly.validate(bytes)) module = new WebAssembly.Module(bytes);
    } catch {
      // no WebAssembly here
    }
    compiled.set(shared, module);
  }
  return compiled.get(shared)!;
}

/** The kernels bound to an existing memory (plain, or shared as the fused trainers' two-thread arenas), or null where SIMD or the binding is unavailable. */
export function bindBatchNorm(memory: WebAssembly.Memory): BatchNormKernels | null {
  const module = batchNormModule(typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer);
  if (module === null) return null;
  try {
    return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as BatchNormKernels;
  } catch {
    return null;
  }
}
