import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { pad4 } from './simd-gemm.js';
import { float32View, inWorkspace, spareRows } from './workspace.js';

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
 * A tap outside the image reads a zero row. Where two threads are available (gemm-threads.ts) the
 * operands are copied into the shared arena and each product is split between the threads;
 * otherwise the products run on the backend's heap in place. Every function returns null where
 * it does not apply (its caller then runs the backend's own kernel).
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

/**
 * The geometry of a conv tfjs describes, or null where pmoe's convolution kernels (these and
 * winograd-conv.ts) do not apply: NCHW, dilation, output channels not a multiple of 4.
 */
export function convGeometry(info: tf.backend_util.Conv2DInfo): ConvGeometry | null {
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
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

/**
 * Writes the offsets of one tap's source rows for `batch` grids of countY x countX positions:
 * position (y, x) reads source pixel (y stepY + offsetY, x stepX + offsetX) of a sourceH x sourceW
 * image, or -1 (the zero row's marker) outside it. Returns the next free index. (Plain numeric
 * parameters: it fills taps x positions entries.)
 */
export function fillTap(
  offsets: Int32Array,
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
  pixelBytes: number,
): number {
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < countY; y++) {
      const sy = y * stepY + offsetY;
      const rowInside = sy >= 0 && sy < sourceH;
      const rowBase = (b * sourceH + sy) * sourceW * pixelBytes;
      for (let x = 0; x < countX; x++) {
        const sx = x * stepX + offsetX;
        offsets[at++] = rowInside && sx >= 0 && sx < sourceW ? rowBase + sx * pixelBytes : -1;
      }
    }
  }
  return at;
}

/** Every tap's offsets into x (fillTap) for the output positions, tap t at at + t tapStride, -1 up to the next tap. */
export function fillTaps(offsets: Int32Array, at: number, tapStride: number, g: ConvGeometry, pixelBytes: number): void {
  for (let ty = 0, t = 0; ty < g.kernelHeight; ty++) {
    for (let tx = 0; tx < g.kernelWidth; tx++, t++) {
      const end = fillTap(
        offsets,
        at + t * tapStride,
        g.batch,
        g.outHeight,
        g.outWidth,
        g.strideHeight,
        g.strideWidth,
        ty - g.top,
        tx - g.left,
        g.inHeight,
        g.inWidth,
        pixelBytes,
      );
      offsets.fill(-1, end, at + (t + 1) * tapStride);
    }
  }
}

/** Whether the per-tap products take a geometry: input channels a multiple of 4 or fewer than 4. */
export function directApplies(g: ConvGeometry): boolean {
  return g.inChannels % 4 === 0 || g.inChannels < 4;
}

/** out = conv(x, filter) + bias [batch, outHeight, outWidth, outChannels]; bias [outChannels] or none. */
export function convForward(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, g: ConvGeometry): TensorInfo | null {
  if (!directApplies(g)) return null;
  const positions = g.batch * g.outHeight * g.outWidth;
  const rows = pad4(positions);
  const taps = g.kernelHeight * g.kernelWidth;
  return inWorkspace(backend, (work) => {
    const [xBase, filterPtr] = [work.input(x), work.weights(filter)];
    const biasPtr = bias === undefined ? undefined : work.weights(bias);
    const out = work.output([g.batch, g.outHeight, g.outWidth, g.outChannels]);
    const spareLength = Math.max(g.inChannels, g.outChannels) + 4;
    const { zero, scratch } = spareRows(work, spareLength);
    const pixelBytes = g.inChannels * FLOAT_BYTES;
    // Offsets from x and from out; -1: the zero row (a tap in the padding) or scratch (a padding row).
    const parts = [
      { length: taps * rows, base: xBase, marker: zero },
      { length: rows, base: out, marker: scratch },
    ];
    const table = work.relativeTable(
      `forward ${JSON.stringify(g)}`,
      taps * rows + rows,
      (offsets, tableAt) => {
        fillTaps(offsets, tableAt, rows, g, pixelBytes);
        const outRows = tableAt + taps * rows;
        for (let p = 0; p < rows; p++) offsets[outRows + p] = p < positions ? p * g.outChannels * FLOAT_BYTES : -1;
      },
      parts,
    );
    const outRows = table + taps * rows * 4;
    work.gemmSeg(rows, g.outChannels, g.inChannels, taps, table, rows, filterPtr, outRows, biasPtr ?? zero);
  });
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [kh, kw, inChannels, outChannels]. */
export function convInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo | null {
  if (!directApplies(g)) return null;
  const { strideHeight: sh, strideWidth: sw, inChannels: ci, outChannels: co } = g;
  // Fewer than 4 input channels (an RGB stem, whose input gradient tfjs computes although nothing
  // uses it): rows of 4 with zero weights past ci, narrowed after.
  const width = pad4(ci);
  // Taps by phase: tap ty reaches input rows qy with (qy + top - ty) divisible by the stride.
  const tapsOf = (phase: number, size: number, stride: number) => Array.from({ length: size }, (_, t) => t).filter((t) => t % stride === phase);
  const phases: { taps: (readonly [number, number])[]; py: number; px: number; countY: number; countX: number }[] = [];
  for (let py = 0; py < sh; py++) {
    for (let px = 0; px < sw; px++) {
      const ys = tapsOf(py, g.kernelHeight, sh);
      const xs = tapsOf(px, g.kernelWidth, sw);
      const taps = ys.flatMap((ty) => xs.map((tx) => [ty, tx] as const));
      phases.push({ taps, py, px, countY: countPhase(g.inHeight, g.top, sh, py), countX: countPhase(g.inWidth, g.left, sw, px) });
    }
  }
  const rowsOf = (phase: (typeof phases)[number]) => pad4(g.batch * phase.countY * phase.countX);
  const tableLength = phases.reduce((sum, phase) => sum + (phase.taps.length + 1) * rowsOf(phase), 0);
  return inWorkspace(backend, (work) => {
    const dyBase = work.input(dy);
    const output = work.output([g.batch, g.inHeight, g.inWidth, ci]);
    const pixels = g.batch * g.inHeight * g.inWidth;
    const dx = width === ci ? output : work.alloc(pixels * width);
    const spareLength = Math.max(width, co) + 4;
    const { zero, scratch } = spareRows(work, spareLength);
    const packed = work.alloc(g.kernelHeight * g.kernelWidth * co * width);
    const floats = float32View(work);
    // Each phase's B: W_t^T [co, ci] for each of its taps, in segment order.
    const weights = backend.typedArrayFromHeap(filter) as Float32Array;
    const weightsAt: number[] = [];
    let packedAt = packed / FLOAT_BYTES;
    for (const { taps } of phases) {
      weightsAt.push(packedAt * FLOAT_BYTES);
      for (const [ty, tx] of taps) {
        const tap = (ty * g.kernelWidth + tx) * ci * co;
        for (let o = 0; o < co; o++) for (let c = 0; c < width; c++) floats[packedAt++] = c < ci ? weights[tap + c * co + o] : 0;
      }
    }
    // Per phase: a segment of each tap's dy rows, then the dx rows, in the table.
    const segmentsAt: number[] = [];
    for (let at = 0, f = 0; f < phases.length; f++) {
      segmentsAt.push(at);
      at += (phases[f].taps.length + 1) * rowsOf(phases[f]);
    }
    // Per phase: offsets from dy (-1: the zero row), then from dx (-1: scratch).
    const parts = phases.flatMap((phase) => [
      { length: phase.taps.length * rowsOf(phase), base: dyBase, marker: zero },
      { length: rowsOf(phase), base: dx, marker: scratch },
    ]);
    const table = work.relativeTable(
      `input gradient ${JSON.stringify(g)}`,
      tableLength,
      (addresses, tableAt) => {
        phases.forEach((phase, f) => {
          const { taps } = phase;
          const rows = rowsOf(phase);
          const segments = tableAt + segmentsAt[f];
          const outRowsAt = segments + taps.length * rows;
          // Row q of the phase: the q-th (b, qy, qx) in order, qy = firstY + k sh.
          const firstY = firstOfPhase(g.top, sh, phase.py);
          const firstX = firstOfPhase(g.left, sw, phase.px);
          taps.forEach(([ty, tx], s) => {
            // Input row firstY + k sh takes dy row k + (firstY + top - ty) / sh (exact: same phase).
            const [offsetY, offsetX] = [(firstY + g.top - ty) / sh, (firstX + g.left - tx) / sw];
            const at = fillTap(
              addresses,
              segments + s * rows,
              g.batch,
              phase.countY,
              phase.countX,
              1,
              1,
              offsetY,
              offsetX,
              g.outHeight,
              g.outWidth,
              co * FLOAT_BYTES,
            );
            addresses.fill(-1, at, segments + (s + 1) * rows);
          });
          let at = outRowsAt;
          for (let b = 0; b < g.batch; b++) {
            for (let qy = firstY; qy < g.inHeight; qy += sh) {
              const rowBase = (b * g.inHeight + qy) * g.inWidth * width * FLOAT_BYTES;
              for (let qx = firstX; qx < g.inWidth; qx += sw) addresses[at++] = rowBase + qx * width * FLOAT_BYTES;
            }
          }
          addresses.fill(-1, at, outRowsAt + rows);
        });
      },
      parts,
    );
    phases.forEach((phase, f) => {
      const rows = rowsOf(phase);
      const segments = table + segmentsAt[f] * 4;
      // A phase without taps (stride above the kernel size) gets zeros (the bias, a zero row).
      if (rows > 0) work.gemmSeg(rows, width, co, phase.taps.length, segments, rows, weightsAt[f], segments + phase.taps.length * rows * 4, zero);
    });
    if (dx !== output) {
      const floats = float32View(work);
      const [from, to] = [dx / FLOAT_BYTES, output / FLOAT_BYTES];
      for (let p = 0; p < pixels; p++) for (let c = 0; c < ci; c++) floats[to + p * ci + c] = floats[from + p * width + c];
    }
  });
}

/** The first index q >= 0 with (q + pad) mod stride == phase. */
export function firstOfPhase(pad: number, stride: number, phase: number): number {
  return (((phase - pad) % stride) + stride) % stride;
}

/** How many of `size` indices q have (q + pad) mod stride == phase. */
export function countPhase(size: number, pad: number, stride: number, phase: number): number {
  const first = firstOfPhase(pad, stride, phase);
  return first >= size ? 0 : Math.floor((size - 1 - first) / stride) + 1;
}

/** dW [kh, kw, inChannels, outChannels] from x and dy. */
export function convFilterGradient(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo | null {
  if (!directApplies(g)) return null;
  const { inChannels: ci, outChannels: co } = g;
  // Narrow inputs are widened to 4 channels, so that each row holds the four values the product reads.
  const width = pad4(ci);
  const positions = g.batch * g.outHeight * g.outWidth;
  return inWorkspace(backend, (work) => {
    let xBase: number;
    if (width === ci) {
      xBase = work.input(x);
    } else {
      const pixels = tf.util.sizeFromShape(x.shape) / ci;
      xBase = work.alloc(pixels * width);
      const [source, target] = [backend.typedArrayFromHeap(x) as Float32Array, float32View(work)];
      const at = xBase / FLOAT_BYTES;
      target.fill(0, at, at + pixels * width);
      for (let p = 0; p < pixels; p++) for (let c = 0; c < ci; c++) target[at + p * width + c] = source[p * ci + c];
    }
    const dyPtr = work.aligned(dy);
    const dW = work.output([g.kernelHeight, g.kernelWidth, ci, co]);
    const { zero } = spareRows(work, width + 4);
    const partial = width === ci ? null : work.alloc(width * co);
    const pixelBytes = width * FLOAT_BYTES;
    const taps = g.kernelHeight * g.kernelWidth;
    // Offsets from x, -1: the zero row.
    const table = work.relativeTable(
      `filter gradient ${JSON.stringify(g)}`,
      taps * positions,
      (offsets, tableAt) => fillTaps(offsets, tableAt, positions, g, pixelBytes),
      [{ length: taps * positions, base: xBase, marker: zero }],
    );
    for (let t = 0; t < taps; t++) {
      const target = partial ?? dW + t * ci * co * FLOAT_BYTES;
      work.gemmT(width, co, positions, table + t * positions * 4, dyPtr, target);
      if (partial !== null) float32View(work).copyWithin(dW / FLOAT_BYTES + t * ci * co, partial / FLOAT_BYTES, partial / FLOAT_BYTES + ci * co);
    }
  });
}
