import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry } from '../kernels/conv-gemm.js';
import { conv2dFilterGradient, conv2dForward, conv2dInputGradient } from '../kernels/convolution.js';
import { heapBatchNormKernels } from '../kernels/heap-kernels.js';
import { fastBatchMatMul, fastFusedMatMul } from '../kernels/matmul.js';
import { runWasmKernel } from '../kernels/wasm-internals.js';

type TensorInfo = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type Shape4 = [number, number, number, number];

const WASM = 'wasm';

function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

function zeros(backend: BackendWasm, shape: number[], dtype: tf.DataType): TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  // Fresh wasm heap memory is not zeroed.
  backend.typedArrayFromHeap(out).fill(0);
  return out;
}

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * Channels-last, undilated convolutions with output channels in multiples of 4 take pmoe's SIMD
 * kernels (kernels/convolution.ts: Winograd or the per-tap products); the others the following.
 * dW[i,j,c,o] = sum_{b,y,x} xPadded[b, y*sh + i*dh, x*sw + j*dw, c] * dy[b,y,x,o] is itself a
 * convolution once the batch plays the channel role: input x^T [Ci,H,W,B], filter
 * dy^T [Ho,Wo,B,Co], the forward dilations as strides and the forward strides as dilations,
 * giving [Ci,kh,kw,Co], which XNNPACK runs at about the forward conv's rate.
 * A 2-D matmul shortcut for patch and 1x1 convs measured no faster: XNNPACK repacks the fresh
 * right-hand operand on every call, and wasm transposes of rank > 4 are slow.
 */
function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: Attrs }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs & {
    dilations?: number | [number, number];
  };
  const { strides, pad, dimRoundingMode, filterShape } = attrs;
  const channelsLast = attrs.dataFormat !== 'NCHW';
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    strides,
    attrs.dilations ?? 1,
    pad,
    dimRoundingMode,
    false,
    channelsLast ? 'channelsLast' : 'channelsFirst',
  );
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { inHeight, inWidth, batchSize } = info;
  const [outH, outW] = channelsLast ? [dy.shape[1], dy.shape[2]] : [dy.shape[2], dy.shape[3]];
  if (outH !== info.outHeight || outW !== info.outWidth) {
    throw new Error(
      `Conv2DBackpropFilter: dy spatial shape ${outH}x${outW} does not match the forward output ` +
        `${info.outHeight}x${info.outWidth} of x ${x.shape} with filter ${filterShape}`,
    );
  }
  const { top, left } = info.padInfo;
  // Extent of the padded input the forward conv read; rows past it never reach dW.
  const neededH = (kh - 1) * dh + (outH - 1) * sh + 1;
  const neededW = (kw - 1) * dw + (outW - 1) * sw + 1;
  const usedH = Math.min(inHeight, neededH - top);
  const usedW = Math.min(inWidth, neededW - left);
  if (usedH <= 0 || usedW <= 0 || batchSize === 0 || outH === 0 || outW === 0) {
    return zeros(backend, filterShape, 'float32');
  }
  const geometry = convGeometry(info);
  const viaGemm = geometry && conv2dFilterGradient(backend, x, dy, geometry);
  if (viaGemm) return viaGemm;

  let xT = transpose(backend, x, channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0]);
  if (usedH < inHeight || usedW < inWidth) {
    // Cropping costs one copy; leaving the rows in would grow the GEMM by whole output rows.
    const cropped = runWasmKernel(
      'Slice',
      backend,
      { x: xT },
      {
        begin: [0, 0, 0, 0],
        size: [ci, usedH, usedW, batchSize],
      },
    );
    dispose(backend, xT);
    xT = cropped;
  }
  const dyT = transpose(backend, dy, channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1]);
  // Explicit (possibly asymmetric) padding is native to XNNPACK: no padded copy of x.
  const grad = runWasmKernel(
    'Conv2D',
    backend,
    { x: xT, filter: dyT },
    {
      strides: [dh, dw],
      dilations: [sh, sw],
      pad: [
        [0, 0],
        [top, neededH - top - usedH],
        [left, neededW - left - usedW],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  // Disposing dyT also frees the XNNPACK operator the wasm Conv2D cached under its id.
  dispose(backend, xT, dyT);
  if (!tf.util.arraysEqual(grad.shape, [ci, kh, kw, co])) {
    dispose(backend, grad);
    throw new Error(`Conv2DBackpropFilter: inner conv gave ${grad.shape}, expected ${[ci, kh, kw, co]}`);
  }
  const dW = transpose(backend, grad, [1, 2, 0, 3]);
  dispose(backend, grad);
  return dW;
}

/** out[s, ...] = sum of x[i, ...] over i with segmentIds[i] == s; ids outside [0, numSegments) are dropped, as in TF. */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: Attrs }): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = (args.attrs ?? {}) as unknown as tf.UnsortedSegmentSumAttrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32 and int32 x, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  if (!tf.util.arraysEqual(segmentIds.shape, x.shape.slice(0, idsRank))) {
    throw new Error(`UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} must be a prefix of x shape ${x.shape}`);
  }
  const sliceShape = x.shape.slice(idsRank);
  const sliceSize = tf.util.sizeFromShape(sliceShape);
  const out = zeros(backend, [numSegments, ...sliceShape], x.dtype);
  // Heap views only after the last allocation: growing the wasm memory detaches them.
  const outVals = backend.typedArrayFromHeap(out);
  const xVals = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= numSegments) continue;
    const xOffset = i * sliceSize;
    const outOffset = id * sliceSize;
    for (let j = 0; j < sliceSize; j++) outVals[outOffset + j] += xVals[xOffset + j];
  }
  return out;
}

/**
 * tfjs 4.22's wasm GatherV2 reads the indices of batch b at b * batchSize instead of
 * b * indicesPerBatch, so batchDims >= 1 is wrong whenever the two differ (checked against cpu).
 * Batched gathers are rewritten as one plain gather over the flattened batch, which it gets right:
 * x [batch, outer, dim, inner] -> [outer, batch * dim, inner], indices + b * dim.
 */
function fixBatchedGather(plainGather: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = (args.attrs ?? {}) as unknown as tf.GatherV2Attrs;
    const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
    const parsedBatchDims = batchDims < 0 ? batchDims + indices.shape.length : batchDims;
    if (!parsedBatchDims) return plainGather(args);
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x, indices, parsedAxis, parsedBatchDims);
    const { batchSize: batch, outerSize: outer, dimSize: dim, sliceSize: inner } = info;
    const perBatch = tf.util.sizeFromShape(indices.shape) / Math.max(batch, 1);
    if (tf.util.sizeFromShape(info.outputShape) === 0) return zeros(backend, info.outputShape, x.dtype);

    const flatIndices = backend.makeOutput([batch * perBatch], 'int32');
    const offsetIndices = backend.typedArrayFromHeap(flatIndices);
    const source = backend.typedArrayFromHeap(indices);
    for (let i = 0; i < offsetIndices.length; i++) {
      const index = source[i];
      if (!(index >= 0 && index < dim)) {
        backend.disposeData(flatIndices.dataId);
        throw new Error(`GatherV2: the index value ${index} is not in [0, ${dim - 1}]`);
      }
      offsetIndices[i] = index + Math.floor(i / perBatch) * dim;
    }
    const owned: TensorInfo[] = [flatIndices];
    let source4d = runWasmKernel('Reshape', backend, { x }, { shape: [batch, outer, dim, inner] });
    owned.push(source4d);
    if (outer > 1) {
      source4d = transpose(backend, source4d, [1, 0, 2, 3]);
      owned.push(source4d);
    }
    const source3d = runWasmKernel('Reshape', backend, { x: source4d }, { shape: [outer, batch * dim, inner] });
    owned.push(source3d);
    let gathered = plainGather({ inputs: { x: source3d, indices: flatIndices }, backend, attrs: { axis: 1, batchDims: 0 } });
    if (Array.isArray(gathered)) throw new Error('GatherV2 returned several outputs');
    if (outer > 1) {
      const split = runWasmKernel('Reshape', backend, { x: gathered }, { shape: [outer, batch, perBatch, inner] });
      owned.push(gathered, split);
      gathered = transpose(backend, split, [1, 0, 2, 3]);
    }
    const out = runWasmKernel('Reshape', backend, { x: gathered }, { shape: info.outputShape });
    dispose(backend, gathered, ...owned);
    return out;
  };
}

/**
 * tfjs 4.22's wasm Conv2DBackpropInput is a plain loop, ~10x slower than the forward conv on a
 * 3x3 layer. Where kernels/convolution.ts applies (channels-last, undilated, output channels in
 * multiples of 4), its Winograd or phase-split SIMD products run it. Otherwise the input gradient is a stride-1 forward conv of dy, zero-upsampled by the stride,
 * with the filter rotated by 180 degrees and its channel axes swapped, padded by k - 1 - pad:
 * XNNPACK speed. Upsampling multiplies the work by sh * sw, so only strides up to 2 take this
 * path; larger strides, NCHW and paddings wider than the kernel stay with the original kernel.
 */
function fastConv2DBackpropInput(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropInputAttrs;
    if (attrs.dataFormat === 'NCHW') return original(args);
    const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { filterHeight: kh, filterWidth: kw, inHeight, inWidth, strideHeight: sh, strideWidth: sw } = info;
    const geometry = convGeometry(info);
    const viaGemm = geometry && conv2dInputGradient(backend, dy, filter, geometry);
    if (viaGemm) return viaGemm;
    if (sh > 2 || sw > 2) return original(args);
    const [batch, outH, outW, outC] = dy.shape;
    // dy upsampled: row p of dy lands on row p * sh, so the last dy row is row (outH - 1) * sh.
    const upH = (outH - 1) * sh + 1;
    const upW = (outW - 1) * sw + 1;
    const top = kh - 1 - info.padInfo.top;
    const left = kw - 1 - info.padInfo.left;
    const bottom = inHeight - upH + kh - 1 - top;
    const right = inWidth - upW + kw - 1 - left;
    if (Math.min(top, left, bottom, right) < 0) return original(args);

    const owned: TensorInfo[] = [];
    let source = dy;
    if (sh > 1 || sw > 1) {
      const grid = runWasmKernel('Reshape', backend, { x: dy }, { shape: [batch, outH, 1, outW, 1, outC] });
      const spread = runWasmKernel(
        'PadV2',
        backend,
        { x: grid },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      const upsampled = runWasmKernel('Reshape', backend, { x: spread }, { shape: [batch, outH * sh, outW * sw, outC] });
      // The zeros after the last dy row and column fall outside the conv's reach: cut them.
      source = runWasmKernel('Slice', backend, { x: upsampled }, { begin: [0, 0, 0, 0], size: [batch, upH, upW, outC] });
      owned.push(grid, spread, upsampled, source);
    }
    const flipped = runWasmKernel('Reverse', backend, { x: filter }, { dims: [0, 1] });
    const rotated = transpose(backend, flipped, [0, 1, 3, 2]);
    owned.push(flipped, rotated);
    const dx = runWasmKernel(
      'Conv2D',
      backend,
      { x: source, filter: rotated },
      {
        strides: 1,
        dilations: 1,
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      },
    );
    // The rotated filter's id keys the XNNPACK operator the wasm Conv2D cached: disposing frees it.
    dispose(backend, ...owned);
    return dx;
  };
}

/**
 * Conv2D and FusedConv2D (bias, no activation) by kernels/convolution.ts where it applies: Winograd
 * on 3x3 stride-1 layers, else the per-tap SIMD products where the input has channels in
 * multiples of 4 (10-25 % faster than XNNPACK on the Wide-ResNet's 16-64-channel 3x3 layers,
 * measured, and no operator packing per new filter). Everything else keeps the original kernel.
 */
function fastConv2D(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DAttrs & { activation?: string };
    if (x === undefined || filter === undefined || preluActivationWeights !== undefined) return original(args);
    if ((attrs.activation ?? 'linear') !== 'linear') return original(args);
    if (bias !== undefined && !(bias.shape.length === 1 && bias.shape[0] === filter.shape[3])) return original(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      attrs.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast',
    );
    const geometry = convGeometry(info);
    return (geometry && conv2dForward(backend, x, filter, bias, geometry)) ?? original(args);
  };
}

/**
 * Identity shares the input's data (a reference count, as the cpu backend and the wasm Reshape
 * do) instead of copying it: tfjs clones every tensor a gradient saves, and on wasm each clone
 * was a full copy (45 activation-sized copies per Wide-ResNet step, ~8 ms). Backend data is never
 * written in place, so sharing is safe. Strings keep the original kernel.
 */
function sharedIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Inference-mode batch norm over the last axis by the SIMD affine pass of simd-batch-norm.ts:
 * y = (x - mean) b + offset with b = scale / sqrt(variance + epsilon) per channel. The wasm
 * kernel is a scalar loop: it took 72 ms of the 210 ms forward pass of 256 WRN-pMoE images, the
 * convolutions 134 (measured, one thread). Per-channel parameters only ([C] each, C a multiple
 * of 4); other shapes go to the original kernel.
 */
function simdBatchNorm(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const backend = args.backend as BackendWasm;
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, TensorInfo | undefined>;
    const { varianceEpsilon } = (args.attrs ?? {}) as unknown as tf.FusedBatchNormAttrs;
    if (x === undefined || mean === undefined || variance === undefined || x.dtype !== 'float32' || x.shape.length === 0) return original(args);
    const channels = x.shape[x.shape.length - 1];
    const perChannel = [mean, variance, offset, scale].every((p) => p === undefined || (p.shape.length === 1 && p.shape[0] === channels));
    const kernels = channels % 4 === 0 && perChannel ? heapBatchNormKernels(backend) : null;
    if (kernels === null) return original(args);
    const out = backend.makeOutput(x.shape, 'float32');
    const vectors = backend.makeOutput([4 * channels], 'float32');
    // Heap views only after the last allocation: growing the wasm memory detaches them.
    const heap = backend.typedArrayFromHeap(vectors) as Float32Array;
    const [means, variances] = [mean, variance].map((p) => backend.typedArrayFromHeap(p) as Float32Array);
    const scales = scale && (backend.typedArrayFromHeap(scale) as Float32Array);
    const offsets = offset && (backend.typedArrayFromHeap(offset) as Float32Array);
    // Vectors: 0 (the unused u's factor), mean, b, offset.
    heap.fill(0, 0, channels);
    heap.set(means, channels);
    for (let c = 0; c < channels; c++) {
      heap[2 * channels + c] = (scales ? scales[c] : 1) / Math.sqrt(variances[c] + varianceEpsilon);
      heap[3 * channels + c] = offsets ? offsets[c] : 0;
    }
    const base = backend.getMemoryOffset(vectors.dataId);
    const xAt = backend.getMemoryOffset(x.dataId);
    const rows = tf.util.sizeFromShape(x.shape) / channels;
    kernels.affine(rows, channels, xAt, base, xAt, base + 4 * channels, base + 8 * channels, base + 12 * channels, backend.getMemoryOffset(out.dataId));
    backend.disposeData(vectors.dataId);
    return out;
  };
}

const ownWrappers = new WeakSet<tf.KernelFunc>();

/**
 * Sum and Mean of float32 over leading or trailing axes with float64 accumulators. The wasm
 * kernels accumulate in float32 in order, which loses the small per-channel sums that batch
 * norm's gradient takes over tens of thousands of nearly cancelling terms: WRN-pMoE's gradients
 * above its last block came out up to 2e-2 off on wasm while cpu (which accumulates in JS
 * doubles) and PyTorch agreed to 1e-6 (measured, bench case d). Other axis patterns and dtypes go
 * to the original kernel.
 */
function accurateReduction(mean: boolean) {
  return (original: tf.KernelFunc): tf.KernelFunc =>
    (args) => {
      const backend = args.backend as BackendWasm;
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = (args.attrs ?? {}) as unknown as tf.SumAttrs;
      if (x.dtype !== 'float32' || x.shape.length === 0) return original(args);
      const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
      const rank = x.shape.length;
      const leading = axes.every((a, i) => a === i);
      const trailing = axes.every((a, i) => a === rank - axes.length + i);
      if (axes.length === 0 || !(leading || trailing)) return original(args);
      const reduced = tf.util.sizeFromShape(axes.map((a) => x.shape[a]));
      const kept = tf.util.sizeFromShape(x.shape) / reduced;
      const outShape = keepDims ? x.shape.map((size, a) => (axes.includes(a) ? 1 : size)) : x.shape.filter((_, a) => !axes.includes(a));
      const out = backend.makeOutput(outShape, 'float32');
      // Column sums of [reduced, kept] by SIMD float64 accumulators (simd-batch-norm.ts) where kept is a multiple of 4.
      const simd = leading && kept % 4 === 0 ? heapBatchNormKernels(backend) : null;
      const doubles = simd ? backend.makeOutput([2 * kept + 2], 'float32') : null;
      const values = backend.typedArrayFromHeap(x) as Float32Array;
      const result = backend.typedArrayFromHeap(out) as Float32Array;
      let sums = new Float64Array(kept);
      if (simd && doubles) {
        const at = Math.ceil(backend.getMemoryOffset(doubles.dataId) / 8) * 8;
        const view = new Float64Array(values.buffer as ArrayBuffer, at, kept);
        view.fill(0);
        simd.columnSums(reduced, kept, backend.getMemoryOffset(x.dataId), at);
        sums = view.slice();
        backend.disposeData(doubles.dataId);
      } else if (leading) {
        // x as [reduced, kept]: column sums, four rows per pass (their sum is exact enough in a double) to quarter the stores.
        let r = 0;
        for (; r + 4 <= reduced; r += 4) {
          const [a, b, c2, d] = [r * kept, (r + 1) * kept, (r + 2) * kept, (r + 3) * kept];
          for (let c = 0; c < kept; c++) sums[c] += values[a + c] + values[b + c] + (values[c2 + c] + values[d + c]);
        }
        for (; r < reduced; r++) {
          const row = r * kept;
          for (let c = 0; c < kept; c++) sums[c] += values[row + c];
        }
      } else {
        // x as [kept, reduced]: row sums.
        for (let c = 0; c < kept; c++) {
          let sum = 0;
          const row = c * reduced;
          for (let r = 0; r < reduced; r++) sum += values[row + r];
          sums[c] = sum;
        }
      }
      for (let c = 0; c < kept; c++) result[c] = mean ? sums[c] / reduced : sums[c];
      return out;
    };
}

/** Replaces a registered wasm kernel by a wrapper around it, once. */
function wrapWasmKernel(kernelName: string, wrap: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const current = tf.getKernel(kernelName, WASM);
  if (current == null || ownWrappers.has(current.kernelFunc)) return;
  const wrapped = wrap(current.kernelFunc);
  ownWrappers.add(wrapped);
  tf.unregisterKernel(kernelName, WASM);
  // Keeps the original's setupFunc, which binds its wasm function; the engine reruns it on each setBackend.
  tf.registerKernel({ ...current, kernelFunc: wrapped });
}

const KERNELS: { kernelName: string; kernelFunc: tf.KernelFunc }[] = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter },
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSum },
];

/**
 * Registers on the wasm backend the kernels that training needs and tfjs 4.22 lacks there, and
 * wraps ten it has: GatherV2 (wrong for batchDims >= 1), Identity (copies), Conv2D, FusedConv2D
 * and Conv2DBackpropInput (slow at few channels), BatchMatMul
 * (slow when batched or transposed), _FusedMatMul (the same, and a wrong bias there), Sum and
 * Mean (float32 accumulation), and FusedBatchNorm (a scalar loop). Idempotent.
 */
export function registerWasmKernels(): void {
  for (const { kernelName, kernelFunc } of KERNELS) {
    if (tf.getKernel(kernelName, WASM) == null) {
      tf.registerKernel({ kernelName, backendName: WASM, kernelFunc });
    }
  }
  wrapWasmKernel('GatherV2', fixBatchedGather);
  wrapWasmKernel('Conv2DBackpropInput', fastConv2DBackpropInput);
  wrapWasmKernel('Conv2D', fastConv2D);
  wrapWasmKernel('Identity', sharedIdentity);
  wrapWasmKernel('FusedConv2D', fastConv2D);
  wrapWasmKernel('BatchMatMul', fastBatchMatMul);
  wrapWasmKernel('_FusedMatMul', fastFusedMatMul);
  wrapWasmKernel('Sum', accurateReduction(false));
  wrapWasmKernel('Mean', accurateReduction(true));
  wrapWasmKernel('FusedBatchNorm', simdBatchNorm);
}
