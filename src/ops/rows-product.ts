import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { checkRange, gatherRows, scatterAddRowsOp } from './gather-rows.js';
import { heapKernels } from '../kernels/heap-kernels.js';
import { float32View, int32View, inWorkspace } from '../kernels/workspace.js';
import type { KernelArgs } from './kernel-io.js';

/**
 * rowsProduct(x, rows, w) = gatherRows(x, rows) w: a pMoE expert with 1x1 kernels applied to the
 * pixels its router chose. On wasm it runs the SIMD GEMM of simd-gemm.ts bound to the backend's
 * own heap, reading the chosen rows of x in place through a table of their addresses (no gathered
 * copy, no repacking of w), faster than XNNPACK's conv or matMul on these shapes. Gradients: dw = x[rows]^T dy by the transposed GEMM, dx = dy w^T summed into
 * x's rows. Other backends, and sizes the kernels do not take (not multiples of 4), get the plain
 * formulation, which is also the reference the tests compare with.
 */
export const ROWS_PRODUCT = 'PmoeRowsProduct';
/** x [R, K], rows [M], dy [M, N] -> x[rows]^T dy [K, N]. */
const ROWS_PRODUCT_T = 'PmoeRowsProductT';

const FLOAT_BYTES = 4;

/**
 * Products below this many FLOPs, or this few columns (router scores: k columns), stay on one
 * thread, in place: copying their rows would cost more than the second thread saves.
 */
export const THREADED_MIN_FLOPS = 4e6;
export const THREADED_MIN_COLUMNS = 32;

/**
 * The wasm kernels: x [R, K], rows [M], and b = w [K, N] (forward: x[rows] b, [M, N]) or
 * b = dy [M, N] (transposed: x[rows]^T b, [K, N], in chunks added in float64), in a workspace
 * (workspace.ts): large products on two threads.
 */
function heapProduct(transposed: boolean, op: string) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { x, rows } = args.inputs as { x: tf.TensorInfo; rows: tf.TensorInfo };
    const b = args.inputs[transposed ? 'dy' : 'w'] as tf.TensorInfo;
    const [m, k, n] = [rows.shape[0], x.shape[1], b.shape[1]];
    checkRange(op, backend.typedArrayFromHeap(rows), x.shape[0]);
    const result = inWorkspace(
      backend,
      (work) => {
        const bPtr = work.aligned(b);
        const out = work.output(transposed ? [k, n] : [m, n]);
        // x's chosen rows, then (forward) the output rows and a zero bias.
        const table = work.alloc(transposed ? m : 2 * m + n);
        const at = table / 4;
        // After the allocations: a heap workspace may have grown (and so replaced) the heap.
        work.rowsOf(x, k, backend.typedArrayFromHeap(rows) as Int32Array, at);
        const ints = int32View(work);
        if (transposed) return work.gemmT(k, n, m, table, bPtr, out);
        for (let i = 0; i < m; i++) ints[at + m + i] = out + i * n * FLOAT_BYTES;
        float32View(work).fill(0, at + 2 * m, at + 2 * m + n);
        work.gemmSeg(m, n, k, 1, table, m, bPtr, table + 4 * m, table + 8 * m);
      },
      2 * m * k * n >= THREADED_MIN_FLOPS && n >= THREADED_MIN_COLUMNS,
    );
    if (result === null) throw new Error(`${op}: the SIMD kernels are not available on this wasm backend`);
    return result;
  };
}

const rowsProductGradConfig: tf.GradConfig = {
  kernelName: ROWS_PRODUCT,
  inputsToSave: ['x', 'rows', 'w'],
  gradFunc: (dy, saved) => {
    const [x, rows, w] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
    const dyTensor = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
    return {
      x: () => tf.tidy(() => scatterAddRowsOp(simdMatMul(dyTensor, tf.transpose(w)), rows, x.shape[0])),
      w: () => rowsProductT(x, rows, dyTensor),
      // Integer data: see gather-rows.ts for why the tape may still ask.
      rows: () => tf.zeros(rows.shape),
    };
  },
};

/** Registers the wasm kernels and the gradient (initEngine does, with the engine's other kernels). Idempotent. */
export function registerRowsProduct(): void {
  for (const [kernelName, transposed] of [
    [ROWS_PRODUCT, false],
    [ROWS_PRODUCT_T, true],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm') == null) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: heapProduct(transposed, kernelName) });
  }
  if (tf.getGradient(ROWS_PRODUCT) !== rowsProductGradConfig) tf.registerGradient(rowsProductGradConfig);
}

/** Whether the SIMD path takes these shapes on the current backend. */
function fastPathTakes(x: tf.Tensor2D, rows: tf.Tensor1D, w: tf.Tensor2D): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  if (rows.shape[0] % 4 !== 0 || x.shape[1] % 4 !== 0 || w.shape[1] % 4 !== 0) return false;
  return tf.getKernel(ROWS_PRODUCT, 'wasm') != null && heapKernels(tf.backend() as BackendWasm) !== null;
}

/** x [R, K] float32, rows [M] int32 in 0..R-1 (repeats allowed), w [K, N]: x[rows] w [M, N], differentiable in x and w. */
export function rowsProduct(x: tf.Tensor2D, rows: tf.Tensor1D, w: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[1] !== w.shape[0]) throw new Error(`rowsProduct: x has ${x.shape[1]} columns but w has ${w.shape[0]} rows`);
  if (fastPathTakes(x, rows, w)) return tf.engine().runKernel(ROWS_PRODUCT, { x, rows, w }) as tf.Tensor2D;
  return tf.tidy(() => tf.matMul(gatherRows(x, rows), w));
}

/** x [R, K], rows [M], dy [M, N]: x[rows]^T dy [K, N] (a weight gradient), by the transposed SIMD GEMM where the shapes fit. */
export function rowsProductT(x: tf.Tensor2D, rows: tf.Tensor1D, dy: tf.Tensor2D): tf.Tensor2D {
  if (fastPathTakes(x, rows, dy)) return tf.engine().runKernel(ROWS_PRODUCT_T, { x, rows, dy }) as tf.Tensor2D;
  return tf.tidy(() => tf.matMul(gatherRows(x, rows), dy, true, false));
}

/** x w for x [M, K], w [K, N]: on wasm by the SIMD GEMM where the shapes fit (narrow products such as router scores), elsewhere tf.matMul. */
export function simdMatMul(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const everyRow = tf.range(0, x.shape[0], 1, 'int32') as tf.Tensor1D;
    return fastPathTakes(x, everyRow, w) ? rowsProduct(x, everyRow, w) : tf.matMul(x, w);
  });
}
