import * as tf from '@tensorflow/tfjs-core';
import { output, values, type KernelArgs } from './kernel-io.js';

type TensorInfo = tf.TensorInfo;

export const GATHER_ROWS = 'PmoeGatherRows';
export const SCATTER_ADD_ROWS = 'PmoeScatterAddRows';

const BACKENDS = ['cpu', 'wasm'] as const;
type RowBackend = (typeof BACKENDS)[number];

function isRowBackend(name: string): name is RowBackend {
  return (BACKENDS as readonly string[]).includes(name);
}

function checkRowsInput(op: string, rows: { shape: number[]; dtype: tf.DataType }): void {
  if (rows.shape.length !== 1 || rows.dtype !== 'int32') {
    throw new Error(`${op}: rows must be a rank-1 int32 tensor, got rank ${rows.shape.length} ${rows.dtype}`);
  }
}

function checkMatrixInput(op: string, name: string, t: { shape: number[]; dtype: tf.DataType }): void {
  if (t.shape.length !== 2 || t.dtype !== 'float32') {
    throw new Error(`${op}: ${name} must be a rank-2 float32 tensor, got rank ${t.shape.length} ${t.dtype} [${t.shape}]`);
  }
}

export function checkRange(op: string, rows: ArrayLike<number>, rowCount: number): void {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(r >= 0 && r < rowCount)) {
      const allowed = rowCount > 0 ? `0..${rowCount - 1}` : 'none (there are no rows)';
      throw new Error(`${op}: rows[${i}] = ${r} is out of range; allowed row indices are ${allowed}`);
    }
  }
}

/** out[i] = x[rows[i]]: one memcpy-speed subarray copy per row. */
function copyRows(x: Float32Array, rows: ArrayLike<number>, width: number, out: Float32Array): void {
  for (let i = 0; i < rows.length; i++) {
    const from = rows[i] * width;
    out.set(x.subarray(from, from + width), i * width);
  }
}

/**
 * out[rows[i]] += dy[i], out zero elsewhere. A row's first hit is a copy, so only rows never hit
 * need zeroing: out may be uninitialised (fresh wasm heap memory is not zeroed).
 */
function scatterAddRows(dy: Float32Array, rows: ArrayLike<number>, width: number, rowCount: number, out: Float32Array): void {
  const hit = new Uint8Array(rowCount);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const to = r * width;
    const from = i * width;
    if (hit[r] === 0) {
      hit[r] = 1;
      out.set(dy.subarray(from, from + width), to);
    } else {
      for (let j = 0; j < width; j++) out[to + j] += dy[from + j];
    }
  }
  for (let r = 0; r < rowCount; r++) {
    if (hit[r] === 0) out.fill(0, r * width, (r + 1) * width);
  }
}

function gatherInputs(args: KernelArgs): { x: TensorInfo; rows: TensorInfo; width: number; count: number } {
  const { x, rows } = args.inputs as { x: TensorInfo; rows: TensorInfo };
  checkMatrixInput(GATHER_ROWS, 'x', x);
  checkRowsInput(GATHER_ROWS, rows);
  return { x, rows, width: x.shape[1], count: rows.shape[0] };
}

// One kernel for cpu and wasm. Indices are checked before the output is allocated, so a bad one
// leaks nothing; the fills take their views after it (growing the wasm memory detaches views).
function gatherRowsKernel(args: KernelArgs): TensorInfo {
  const { x, rows, width, count } = gatherInputs(args);
  checkRange(GATHER_ROWS, values(args.backend, rows), x.shape[0]);
  return output<Float32Array>(args.backend, [count, width], 'float32', (out) =>
    copyRows(values(args.backend, x) as Float32Array, values(args.backend, rows), width, out),
  );
}

function scatterInputs(args: KernelArgs): { dy: TensorInfo; rows: TensorInfo; rowCount: number; width: number } {
  const { dy, rows } = args.inputs as { dy: TensorInfo; rows: TensorInfo };
  const { rowCount } = (args.attrs ?? {}) as { rowCount?: number };
  checkMatrixInput(SCATTER_ADD_ROWS, 'dy', dy);
  checkRowsInput(SCATTER_ADD_ROWS, rows);
  if (typeof rowCount !== 'number' || !Number.isInteger(rowCount) || rowCount < 0) {
    throw new Error(`${SCATTER_ADD_ROWS}: attr rowCount must be a non-negative integer, got ${String(rowCount)}`);
  }
  if (rows.shape[0] !== dy.shape[0]) {
    throw new Error(`${SCATTER_ADD_ROWS}: ${rows.shape[0]} rows for ${dy.shape[0]} rows of dy`);
  }
  return { dy, rows, rowCount, width: dy.shape[1] };
}

function scatterAddRowsKernel(args: KernelArgs): TensorInfo {
  const { dy, rows, rowCount, width } = scatterInputs(args);
  checkRange(SCATTER_ADD_ROWS, values(args.backend, rows), rowCount);
  return output<Float32Array>(args.backend, [rowCount, width], 'float32', (out) =>
    scatterAddRows(values(args.backend, dy) as Float32Array, values(args.backend, rows), width, rowCount, out),
  );
}

const KERNELS: Record<string, tf.KernelFunc> = {
  [GATHER_ROWS]: gatherRowsKernel as unknown as tf.KernelFunc,
  [SCATTER_ADD_ROWS]: scatterAddRowsKernel as unknown as tf.KernelFunc,
};

function hasKernel(name: string): boolean {
  const backend = tf.getBackend();
  return isRowBackend(backend) && tf.getKernel(name, backend) != null;
}

/** dx = dy rows summed into [rowCount, width]; tf.scatterND where our kernel is not registered. */
export function scatterAddRowsOp(dy: tf.Tensor, rows: tf.Tensor, rowCount: number): tf.Tensor2D {
  const width = dy.shape[1] as number;
  if (hasKernel(SCATTER_ADD_ROWS)) {
    return tf.engine().runKernel(SCATTER_ADD_ROWS, { dy, rows }, { rowCount }) as tf.Tensor2D;
  }
  if (rows.size === 0) return tf.zeros([rowCount, width]);
  return tf.tidy(() => tf.scatterND(tf.reshape(rows, [rows.size, 1]), dy, [rowCount, width]));
}

/**
 * rows is integer data and has no gradient. tfjs asks for one only when rows itself lies on the
 * path from a watched tensor (e.g. top-k indices of router scores that were not detached); then
 * it demands a float32 tensor, so float zeros let the tape pass. Never evaluated otherwise.
 */
const gatherRowsGradConfig: tf.GradConfig = {
  kernelName: GATHER_ROWS,
  // The saved x is a clone sharing x's data: kept only for its row count.
  inputsToSave: ['x', 'rows'],
  gradFunc: (dy, saved) => {
    const [x, rows] = saved;
    const dyTensor = Array.isArray(dy) ? dy[0] : dy;
    return {
      x: () => scatterAddRowsOp(dyTensor, rows, x.shape[0]),
      rows: () => tf.zeros(rows.shape),
    };
  },
};

/**
 * Registers the PmoeGatherRows / PmoeScatterAddRows kernels on cpu and wasm and the gradient of
 * PmoeGatherRows. Idempotent. tfjs 4.22's gather is orders of magnitude slower than a row copy
 * on both backends, and its gradient's UnsortedSegmentSum is quadratic on cpu.
 */
export function registerGatherRows(): void {
  for (const backendName of BACKENDS) {
    for (const [kernelName, kernelFunc] of Object.entries(KERNELS)) {
      if (tf.getKernel(kernelName, backendName) == null) {
        tf.registerKernel({ kernelName, backendName, kernelFunc });
      }
    }
  }
  if (tf.getGradient(GATHER_ROWS) !== gatherRowsGradConfig) tf.registerGradient(gatherRowsGradConfig);
}

/**
 * out[i] = x[rows[i]] for x [rowCount, width] float32 and rows [count] int32 (repeats allowed),
 * differentiable w.r.t. x (repeated rows accumulate). Throws on an index outside 0..rowCount-1.
 * Backends other than cpu and wasm get tf.gather, which need not range-check.
 */
export function gatherRows(x: tf.Tensor2D, rows: tf.Tensor1D): tf.Tensor2D {
  checkMatrixInput('gatherRows', 'x', x);
  checkRowsInput('gatherRows', rows);
  if (!hasKernel(GATHER_ROWS)) {
    registerGatherRows();
    if (!hasKernel(GATHER_ROWS)) return tf.gather(x, rows);
  }
  return tf.engine().runKernel(GATHER_ROWS, { x, rows }) as tf.Tensor2D;
}

/**
 * out[targets[i]] = values[i] in a zero [rowCount, width] (targets distinct int32), differentiable
 * w.r.t. values: the gradient gathers dy's target rows. Placing outputs this way, rather than
 * gathering them from a block with a zero row, keeps scatter-adds out of the backward pass: on
 * webgpu every untaken row's gradient would sum into that one zero row by atomics, which took half
 * of a WRN-pMoE training step on a GPU.
 */
export function placeRows(values: tf.Tensor2D, targets: tf.Tensor1D, rowCount: number): tf.Tensor2D {
  checkMatrixInput('placeRows', 'values', values);
  checkRowsInput('placeRows', targets);
  const width = values.shape[1];
  if (targets.size === 0) return tf.zeros([rowCount, width]);
  const place = tf.customGrad((v, save) => {
    // Kept for the backward pass (the caller's targets may be disposed by then).
    (save as tf.GradSaveFunc)([targets]);
    return {
      value: tf.tidy(() => tf.scatterND(tf.reshape(targets, [targets.size, 1]), v as tf.Tensor, [rowCount, width])),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => gatherRows(dy as tf.Tensor2D, saved[0] as tf.Tensor1D),
    };
  });
  return place(values) as tf.Tensor2D;
}
