import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { moduleDataId, releaseView, runWasmKernel, wasmBatchMatMul, type WasmBatchMatMul } from './wasm-internals.js';

type TensorInfo = tf.TensorInfo;

const FLOAT_BYTES = 4;

/**
 * A rough cost model in ns on one wasm thread, used only to choose a formulation: XNNPACK packs the
 * right-hand operand into a new operator on every call with a fresh data id
 * (XNN_FLAG_TRANSPOSE_WEIGHTS), a cost per element that dwarfs its cost per multiply-add when the
 * left operand has few rows; a wasm Transpose moves each element once; the generic loop is an order
 * of magnitude slower per multiply-add than XNNPACK.
 */
const COST = { pack: 10, transpose: 1.5, xnnMac: 0.1, loopMac: 1.5, call: 3000 };

/**
 * tfjs 4.22's wasm BatchMatMul and _FusedMatMul reach XNNPACK only for one 2-D product with no
 * transposed operand; anything else (batch > 1, transposeA, transposeB) falls to a generic loop
 * an order of magnitude slower. The wrappers here transpose explicitly and run one XNNPACK product per batch
 * element, on views into the operands' memory (no copies).
 *
 * XNNPACK's operator for a product is cached under the right-hand operand's data id, packed for the
 * shape seen first: a tensor reshaped to other [K, N] (tf.reshape keeps the data id) would get the
 * wrong packed weights. safeWeights() copies such operands; views and transposes are fresh ids,
 * released after the call, which also deletes their cached operator.
 */

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Swaps the last two axes (a fresh tensor). */
function transposeInner(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/** A float32 tensor over part of another's memory, with a fresh data id. Release it with releaseView. */
function view(backend: BackendWasm, base: TensorInfo, shape: number[], elementOffset: number): TensorInfo {
  return backend.makeOutput(shape, 'float32', backend.getMemoryOffset(base.dataId) + elementOffset * FLOAT_BYTES);
}

/** [K, N] of the first XNNPACK operator built for each right-hand data id (see the note above). */
const weightShapes = new WeakMap<object, string>();

/**
 * `x` as [K, N] weights safe to hand XNNPACK: x itself, unless its data id was used before as weights
 * of another [K, N] (its cached operator would be wrong), then a copy the caller disposes.
 */
function safeWeights(backend: BackendWasm, x: TensorInfo, k: number, n: number): TensorInfo {
  const key = `${k}x${n}`;
  const seen = weightShapes.get(x.dataId);
  if (seen === undefined) weightShapes.set(x.dataId, key);
  if (seen === undefined || seen === key) return x;
  const copy = backend.makeOutput(x.shape, 'float32');
  backend.typedArrayFromHeap(copy).set(backend.typedArrayFromHeap(x));
  return copy;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** out [M, N] = a [M, K] x b [K, N] on XNNPACK, all three given by data id; out's memory is overwritten. */
function xnnProduct(backend: BackendWasm, fn: WasmBatchMatMul, a: TensorInfo, b: TensorInfo, out: TensorInfo, m: number, k: number, n: number): void {
  const id = (x: TensorInfo) => moduleDataId(backend, x);
  fn(id(a), shapeBytes([1, m, k]), 3, id(b), shapeBytes([1, k, n]), 3, 0, 0, id(out));
}

interface ProductShape {
  m: number;
  k: number;
  n: number;
  aBatch: number;
  bBatch: number;
  batch: number;
  batchShape: number[];
}

/**
 * Shapes of op(a) x op(b) for rank >= 2 float32 operands whose batches are equal or one of them 1;
 * null for anything else (the original kernel then decides, and reports errors its own way).
 */
function productShape(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): ProductShape | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (aRank < 2 || bRank < 2) return null;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const n = transposeB ? bRows : bCols;
  if (k !== (transposeB ? bCols : bRows)) return null;
  const aBatchShape = a.shape.slice(0, -2);
  const bBatchShape = b.shape.slice(0, -2);
  const aBatch = tf.util.sizeFromShape(aBatchShape);
  const bBatch = tf.util.sizeFromShape(bBatchShape);
  // Batches broadcast element-wise only when one side is a single matrix; tfjs's own kernels
  // (cpu included) mishandle other broadcasts such as [2, 1] against [1, 3], so those pass through.
  if (aBatch !== bBatch && aBatch !== 1 && bBatch !== 1) return null;
  let batchShape: number[];
  try {
    batchShape = tf.backend_util.assertAndGetBroadcastShape(aBatchShape, bBatchShape);
  } catch {
    return null;
  }
  const batch = tf.util.sizeFromShape(batchShape);
  if (batch !== Math.max(aBatch, bBatch)) return null;
  return { m, k, n, aBatch, bBatch, batch, batchShape };
}

/**
 * out [batch, P, Q] = left [lBatch, P, K] x right [rBatch, K, Q], neither transposed, lBatch and
 * rBatch equal to batch or 1. A shared right operand takes a single product over all left rows.
 */
function batchedProduct(
  backend: BackendWasm,
  fn: WasmBatchMatMul,
  left: TensorInfo,
  lBatch: number,
  right: TensorInfo,
  rBatch: number,
  rightFresh: boolean,
  p: number,
  k: number,
  q: number,
  batch: number,
): TensorInfo {
  const out = backend.makeOutput([batch, p, q], 'float32');
  if (rBatch === 1 && lBatch === batch) {
    // A fresh right operand (a transpose) is disposed by the caller, which deletes its operator.
    const weights = rightFresh ? right : safeWeights(backend, right, k, q);
    xnnProduct(backend, fn, left, weights, out, batch * p, k, q);
    if (weights !== right) dispose(backend, weights);
    return out;
  }
  for (let i = 0; i < batch; i++) {
    const views: TensorInfo[] = [];
    const lView = lBatch === 1 ? left : view(backend, left, [1, p, k], i * p * k);
    if (lView !== left) views.push(lView);
    // A fresh id per element: each gets its own XNNPACK operator, deleted on release.
    const rView = view(backend, right, [1, k, q], (rBatch === 1 ? 0 : i) * k * q);
    const oView = view(backend, out, [1, p, q], i * p * q);
    views.push(rView, oView);
    try {
      xnnProduct(backend, fn, lView, rView, oView, p, k, q);
    } finally {
      for (const v of views) releaseView(backend, v);
    }
  }
  return out;
}

function zeros(backend: BackendWasm, shape: number[]): TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  return out;
}

/**
 * BatchMatMul on XNNPACK: transposes done by explicit Transpose kernels (or, when cheaper, the
 * product computed transposed: (op(a) op(b))^T = op(b)^T op(a)^T, whose operands may need no
 * transpose, and the [N, M] result transposed), then one 2-D product per batch element.
 */
export function fastBatchMatMul(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = (args.attrs ?? {}) as unknown as tf.BatchMatMulAttrs;
    const shape = productShape(a, b, transposeA, transposeB);
    const fn = wasmBatchMatMul(backend);
    if (shape == null || fn == null) return original(args);
    const { m, k, n, aBatch, bBatch, batch, batchShape } = shape;
    const outShape = [...batchShape, m, n];
    if (batch * m * n === 0) return backend.makeOutput(outShape, 'float32');
    if (k === 0) return zeros(backend, outShape);

    // Estimated cost of each formulation: the generic loop, op(a) x op(b), or (op(b)^T x op(a)^T)^T.
    // A right operand shared by the whole batch is one product (one packing), else one per element.
    const aSize = aBatch * m * k;
    const bSize = bBatch * k * n;
    const xnn = COST.xnnMac * batch * m * k * n;
    const products = (leftBatch: number, rightBatch: number) => (rightBatch === 1 && leftBatch === batch ? 1 : batch);
    const directProducts = products(aBatch, bBatch);
    const swappedProducts = products(bBatch, aBatch);
    const direct = COST.transpose * ((transposeA ? aSize : 0) + (transposeB ? bSize : 0)) + directProducts * (COST.pack * k * n + COST.call) + xnn;
    const swapped =
      COST.transpose * ((transposeA ? 0 : aSize) + (transposeB ? 0 : bSize) + batch * m * n) + swappedProducts * (COST.pack * k * m + COST.call) + xnn;
    const loop = COST.loopMac * batch * m * k * n;
    // One untransposed product with b as a whole is the original's own XNNPACK path, whose operator
    // stays cached while b lives (no packing after the first call): keep it.
    const plain = !transposeA && !transposeB && directProducts === 1;
    if (!plain && loop < Math.min(direct, swapped)) return original(args);

    const owned: TensorInfo[] = [];
    const transposed = (x: TensorInfo) => {
      const t = transposeInner(backend, x);
      owned.push(t);
      return t;
    };
    try {
      let out: TensorInfo;
      if (plain || direct <= swapped) {
        const left = transposeA ? transposed(a) : a;
        const right = transposeB ? transposed(b) : b;
        out = batchedProduct(backend, fn, left, aBatch, right, bBatch, transposeB, m, k, n, batch);
      } else {
        // out^T [batch, N, M] = op(b)^T [N, K] x op(a)^T [K, M].
        const left = transposeB ? b : transposed(b);
        const right = transposeA ? a : transposed(a);
        const outT = batchedProduct(backend, fn, left, bBatch, right, aBatch, !transposeA, n, k, m, batch);
        owned.push(outT);
        out = transposeInner(backend, outT);
      }
      out.shape = outShape;
      return out;
    } finally {
      dispose(backend, ...owned);
    }
  };
}

/**
 * _FusedMatMul (tfjs-layers' Dense; tf.fused.matMul) on the XNNPACK path, which applies bias and
 * activation correctly: the generic loop wasm falls to for transposed or batched operands adds
 * bias[min(i * N + j, size - 1)] instead of bias[j] (wrong for every row past the first), and a
 * length-1 bias is read past its end. Transposes are explicit; batches run element by element
 * through the original kernel on views, their outputs copied into place. A bias other than rank 1,
 * or prelu weights larger than one [M, N] product, pass through to the original kernel.
 */
export function fastFusedMatMul(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const inputs = args.inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    const { a, b, bias, preluActivationWeights: prelu } = inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf._FusedMatMulAttrs;
    const { transposeA, transposeB } = attrs;
    const shape = productShape(a, b, transposeA, transposeB);
    if (shape == null || a.shape.length !== 3 || b.shape.length !== 3) return original(args);
    const { m, k, n, aBatch, bBatch, batch, batchShape } = shape;
    if (bias != null && (bias.shape.length !== 1 || (bias.shape[0] !== n && bias.shape[0] !== 1))) return original(args);
    if (prelu != null && tf.util.sizeFromShape(prelu.shape) > m * n) return original(args);
    const outShape = [...batchShape, m, n];
    if (batch * m * n === 0) return backend.makeOutput(outShape, 'float32');
    if (k === 0) return original(args);

    const owned: TensorInfo[] = [];
    const keep = (x: TensorInfo) => {
      owned.push(x);
      return x;
    };
    try {
      const left = transposeA ? keep(transposeInner(backend, a)) : a;
      let right = transposeB ? keep(transposeInner(backend, b)) : b;
      let fullBias = bias;
      if (bias != null && bias.shape[0] !== n) {
        // XNNPACK reads N bias values.
        fullBias = keep(backend.makeOutput([n], 'float32'));
        backend.typedArrayFromHeap(fullBias).fill(backend.typedArrayFromHeap(bias)[0]);
      }
      const runOne = (l: TensorInfo, r: TensorInfo) => {
        const result = original({
          inputs: { a: l, b: r, ...(fullBias ? { bias: fullBias } : {}), ...(prelu ? { preluActivationWeights: prelu } : {}) },
          backend,
          attrs: { ...(args.attrs ?? {}), transposeA: false, transposeB: false },
        });
        if (Array.isArray(result)) throw new Error('_FusedMatMul returned several outputs');
        return result;
      };
      if (batch === 1) {
        if (!transposeB) {
          const weights = safeWeights(backend, right, k, n);
          if (weights !== right) right = keep(weights);
        }
        const out = runOne({ ...left, shape: [1, m, k] }, { ...right, shape: [1, k, n] });
        out.shape = outShape;
        return out;
      }
      const out = backend.makeOutput(outShape, 'float32');
      for (let i = 0; i < batch; i++) {
        const lView = view(backend, left, [1, m, k], (aBatch === 1 ? 0 : i) * m * k);
        const rView = view(backend, right, [1, k, n], (bBatch === 1 ? 0 : i) * k * n);
        let result: TensorInfo;
        try {
          result = runOne(lView, rView);
        } finally {
          releaseView(backend, lView);
          releaseView(backend, rView);
        }
        backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(result), i * m * n);
        dispose(backend, result);
      }
      return out;
    } finally {
      dispose(backend, ...owned);
    }
  };
}
