import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapKernels } from './heap-kernels.js';
import { pad4 } from './simd-gemm.js';

/**
 * 2-D convolutions (NHWC, dilation 1) and their two gradients on the SIMD GEMM of simd-gemm.ts,
 * bound to the wasm backend's heap. Each kernel tap is one segment of gemmSeg's rows (or one
 * gemmT), read in place through a table of pixel addresses: no im2col copy, no repacking.
 *
 * Why: the wasm backend's gradients of small-channel convolutions were the largest part of a
 * Wide-ResNet training step (bench case d): Conv2DBackpropFilter ran as an XNNPACK convolution
 * with the batch as channels and the whole image as its kernel, and stride-2 input gradients
 * convolved dy with zeros inserted (4x the work, 1-3 GFLOP/s measured).
 * - forward: out[p] = sum over taps t of x[pixel(p, t)] W_t;
 * - input gradient, split by output phase (q + pad) mod stride so that every row of a phase has
 *   the same taps and none of them multiplies an inserted zero: dx[q] = sum_t dy[p(q, t)] W_t^T;
 * - filter gradient, one transposed product per tap over all output positions: dW_t = x_t^T dy.
 * A tap outside the image reads a zero row. Every function returns null where it does not apply
 * (its caller then runs the backend's own kernel).
 */

type TensorInfo = tf.TensorInfo;
const FLOAT_BYTES = 4;

/** What the three kernels need of tfjs's Conv2DInfo. */
export interface ConvGeometry {
  readonly batch: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly inChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly outChannels: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly top: number;
  readonly left: number;
}

/** The geometry of a conv tfjs describes, or null where these kernels do not apply (NCHW, dilation, channel counts). */
export function convGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry | null {
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  if (info.inChannels % 4 !== 0 && info.inChannels > 4) return null;
  if (info.outChannels % 4 !== 0) return null;
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    kernelHeight: info.filterHeight,
    kernelWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

const address = (backend: BackendWasm, info: TensorInfo) => backend.getMemoryOffset(info.dataId);

/**
 * A heap region of `floats` zeros (the row that taps in the padding read) followed by as many
 * floats of scratch (the row that padding rows of a product write).
 */
function spareRows(backend: BackendWasm, floats: number): { region: TensorInfo; zero: number; scratch: number } {
  const region = backend.makeOutput([2 * floats], 'float32');
  backend.typedArrayFromHeap(region).fill(0);
  const zero = address(backend, region);
  return { region, zero, scratch: zero + floats * FLOAT_BYTES };
}

/**
 * x's rows widened to 4 channels (zeros after the real ones), so that a transposed product may
 * read four values per pixel; only for inputs of fewer than 4 channels (an RGB stem).
 */
function widened(backend: BackendWasm, x: TensorInfo, channels: number): TensorInfo {
  const pixels = tf.util.sizeFromShape(x.shape) / channels;
  const out = backend.makeOutput([pixels * 4], 'float32');
  const source = backend.typedArrayFromHeap(x) as Float32Array;
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  target.fill(0);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) target[4 * p + c] = source[p * channels + c];
  return out;
}

/**
 * Writes the addresses of one tap's source rows for `batch` grids of countY x countX positions:
 * position (y, x) reads source pixel (y stepY + offsetY, x stepX + offsetX) of a sourceH x sourceW
 * image at `base`, or the zero row outside it. Returns the next free index. (Hot: every
 * conv call fills taps x positions entries, hence plain numeric parameters.)
 */
function fillTap(
  addresses: Int32Array,
  at: number,
  batch: number,
  countY: number,
  countX: number,
  stepY: number,
  stepX: number,
  offsetY: number,
  offsetX: number,
  sourceH: number,
  sourceW: number,
  base: number,
  pixelBytes: number,
  zero: number,
): number {
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < countY; y++) {
      const sy = y * stepY + offsetY;
      const rowInside = sy >= 0 && sy < sourceH;
      const rowBase = base + (b * sourceH + sy) * sourceW * pixelBytes;
      for (let x = 0; x < countX; x++) {
        const sx = x * stepX + offsetX;
        addresses[at++] = rowInside && sx >= 0 && sx < sourceW ? rowBase + sx * pixelBytes : zero;
      }
    }
  }
  return at;
}

/** out = conv(x, filter) + bias [batch, outHeight, outWidth, outChannels]; bias [outChannels] or none. */
export function convForward(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, g: ConvGeometry): TensorInfo | null {
  const kernels = heapKernels(backend);
  if (kernels === null) return null;
  const positions = g.batch * g.outHeight * g.outWidth;
  const rows = pad4(positions);
  const taps = g.kernelHeight * g.kernelWidth;
  const out = backend.makeOutput([g.batch, g.outHeight, g.outWidth, g.outChannels], 'float32');
  const spare = spareRows(backend, Math.max(g.inChannels, g.outChannels) + 4);
  const { zero, scratch } = spare;
  const table = backend.makeOutput([taps * rows + rows], 'int32');
  const addresses = backend.typedArrayFromHeap(table) as Int32Array;
  const [xBase, outBase] = [address(backend, x), address(backend, out)];
  const pixelBytes = g.inChannels * FLOAT_BYTES;
  for (let ty = 0, t = 0; ty < g.kernelHeight; ty++) {
    for (let tx = 0; tx < g.kernelWidth; tx++, t++) {
      const at = fillTap(addresses, t * rows, g.batch, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, ty - g.top, tx - g.left, g.inHeight, g.inWidth, xBase, pixelBytes, zero);
      addresses.fill(zero, at, (t + 1) * rows);
    }
  }
  const outRows = taps * rows;
  for (let p = 0; p < rows; p++) addresses[outRows + p] = p < positions ? outBase + p * g.outChannels * FLOAT_BYTES : scratch;
  const tablePtr = address(backend, table);
  const biasPtr = bias === undefined ? zero : address(backend, bias);
  kernels.gemmSeg(rows, g.outChannels, g.inChannels, taps, tablePtr, address(backend, filter), tablePtr + outRows * 4, biasPtr);
  release(backend, spare.region, table);
  return out;
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [kh, kw, inChannels, outChannels]. */
export function convInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo | null {
  const kernels = heapKernels(backend);
  if (kernels === null || g.inChannels % 4 !== 0) return null;
  const { strideHeight: sh, strideWidth: sw, inChannels: ci, outChannels: co } = g;
  // Taps by phase: tap ty reaches input rows qy with (qy + top - ty) divisible by the stride.
  const tapsOf = (phase: number, size: number, stride: number) =>
    Array.from({ length: size }, (_, t) => t).filter((t) => t % stride === phase);
  const phases: { ys: number[]; xs: number[]; py: number; px: number; count: number }[] = [];
  for (let py = 0; py < sh; py++) {
    for (let px = 0; px < sw; px++) {
      // Input rows of this phase: (qy + top) mod sh == py.
      const rowsY = countPhase(g.inHeight, g.top, sh, py);
      const rowsX = countPhase(g.inWidth, g.left, sw, px);
      phases.push({ ys: tapsOf(py, g.kernelHeight, sh), xs: tapsOf(px, g.kernelWidth, sw), py, px, count: g.batch * rowsY * rowsX });
    }
  }
  const tableLength = phases.reduce((sum, f) => sum + (f.ys.length * f.xs.length + 1) * pad4(f.count), 0);
  const dx = backend.makeOutput([g.batch, g.inHeight, g.inWidth, ci], 'float32');
  const spare = spareRows(backend, Math.max(ci, co) + 4);
  const { zero, scratch } = spare;
  const table = backend.makeOutput([tableLength], 'int32');
  const packed = backend.makeOutput([g.kernelHeight * g.kernelWidth * co * ci], 'float32');
  const addresses = backend.typedArrayFromHeap(table) as Int32Array;
  const weights = backend.typedArrayFromHeap(filter) as Float32Array;
  const transposed = backend.typedArrayFromHeap(packed) as Float32Array;
  const [dyBase, dxBase, tableBase, packedBase] = [dy, dx, table, packed].map((t) => address(backend, t));
  let tableAt = 0;
  let packedAt = 0;
  for (const phase of phases) {
    const taps = phase.ys.flatMap((ty) => phase.xs.map((tx) => [ty, tx] as const));
    const rows = pad4(phase.count);
    // This phase's B: W_t^T [co, ci] for each of its taps, in segment order.
    const weightsAt = packedAt;
    for (const [ty, tx] of taps) {
      const tap = (ty * g.kernelWidth + tx) * ci * co;
      for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) transposed[packedAt++] = weights[tap + c * co + o];
    }
    const segmentsAt = tableAt;
    const outRowsAt = tableAt + taps.length * rows;
    // Row q of the phase: the q-th (b, qy, qx) in order; first and step of its rows and columns.
    const firstY = firstOfPhase(g.top, sh, phase.py);
    const firstX = firstOfPhase(g.left, sw, phase.px);
    const [countY, countX] = [countPhase(g.inHeight, g.top, sh, phase.py), countPhase(g.inWidth, g.left, sw, phase.px)];
    taps.forEach(([ty, tx], s) => {
      // Input row firstY + k sh takes dy row k + (firstY + top - ty) / sh (exact: same phase).
      const [offsetY, offsetX] = [(firstY + g.top - ty) / sh, (firstX + g.left - tx) / sw];
      const at = fillTap(addresses, segmentsAt + s * rows, g.batch, countY, countX, 1, 1, offsetY, offsetX, g.outHeight, g.outWidth, dyBase, co * FLOAT_BYTES, zero);
      addresses.fill(zero, at, segmentsAt + (s + 1) * rows);
    });
    let at = outRowsAt;
    for (let b = 0; b < g.batch; b++) {
      for (let qy = firstY; qy < g.inHeight; qy += sh) {
        const rowBase = dxBase + (b * g.inHeight + qy) * g.inWidth * ci * FLOAT_BYTES;
        for (let qx = firstX; qx < g.inWidth; qx += sw) addresses[at++] = rowBase + qx * ci * FLOAT_BYTES;
      }
    }
    addresses.fill(scratch, at, outRowsAt + rows);
    tableAt = outRowsAt + rows;
    if (phase.count > 0) {
      // A phase without taps (stride above the kernel size) gets zeros.
      kernels.gemmSeg(rows, ci, co, taps.length, tableBase + segmentsAt * 4, packedBase + weightsAt * 4, tableBase + outRowsAt * 4, zero);
    }
  }
  release(backend, spare.region, table, packed);
  return dx;
}

/** The first index q >= 0 with (q + pad) mod stride == phase. */
function firstOfPhase(pad: number, stride: number, phase: number): number {
  return (((phase - pad) % stride) + stride) % stride;
}

/** How many of `size` indices q have (q + pad) mod stride == phase. */
function countPhase(size: number, pad: number, stride: number, phase: number): number {
  const first = firstOfPhase(pad, stride, phase);
  return first >= size ? 0 : Math.floor((size - 1 - first) / stride) + 1;
}

/** dW [kh, kw, inChannels, outChannels] from x and dy. */
export function convFilterGradient(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo | null {
  const kernels = heapKernels(backend);
  if (kernels === null) return null;
  const { inChannels: ci, outChannels: co } = g;
  const width = pad4(ci);
  const positions = g.batch * g.outHeight * g.outWidth;
  const taps = g.kernelHeight * g.kernelWidth;
  const dW = backend.makeOutput([g.kernelHeight, g.kernelWidth, ci, co], 'float32');
  // Narrow inputs are widened, so that each row holds the four values the product reads.
  const source = ci === width ? x : widened(backend, x, ci);
  const spare = spareRows(backend, width + 4);
  const { zero } = spare;
  const table = backend.makeOutput([positions], 'int32');
  const partial = width === ci ? null : backend.makeOutput([width * co], 'float32');
  const [xBase, tablePtr, dyPtr, dWBase] = [source, table, dy, dW].map((t) => address(backend, t));
  const pixelBytes = width * FLOAT_BYTES;
  for (let ty = 0, t = 0; ty < g.kernelHeight; ty++) {
    for (let tx = 0; tx < g.kernelWidth; tx++, t++) {
      const addresses = backend.typedArrayFromHeap(table) as Int32Array;
      fillTap(addresses, 0, g.batch, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, ty - g.top, tx - g.left, g.inHeight, g.inWidth, xBase, pixelBytes, zero);
      const target = partial === null ? dWBase + t * ci * co * FLOAT_BYTES : address(backend, partial);
      kernels.gemmT(width, co, positions, tablePtr, dyPtr, target);
      if (partial !== null) {
        const into = backend.typedArrayFromHeap(dW) as Float32Array;
        into.set((backend.typedArrayFromHeap(partial) as Float32Array).subarray(0, ci * co), t * ci * co);
      }
    }
  }
  release(backend, spare.region, table, ...(partial === null ? [] : [partial]), ...(source === x ? [] : [source]));
  return dW;
}
