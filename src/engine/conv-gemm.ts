import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { gemmTChunks, gemmThreads, type GemmThreads } from './gemm-threads.js';
import { heapKernels } from './heap-kernels.js';
import { pad4, type Kernels } from './simd-gemm.js';

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

/**
 * Where one convolution's operands, tables and result live, and how its products run: the
 * backend's heap (one thread, operands in place) or the two-thread arena (operands copied in).
 * Addresses are byte addresses in `memory`; take views after the last allocation.
 */
interface Workspace {
  readonly memory: WebAssembly.Memory;
  /** The address of a tensor's data that the products may read. */
  input(info: TensorInfo): number;
  /** A scratch region of `length` 4-byte elements (contents undefined). */
  alloc(length: number): number;
  /** The result tensor's region, returned by finish(). */
  output(shape: number[]): number;
  /**
   * A table of `length` int32 entries that `build(addresses, at)` writes from index `at`, which
   * may instead be copied from an earlier build with the same `key` (the key names everything
   * the entries depend on, addresses included).
   */
  table(key: string, length: number, build: (addresses: Int32Array, at: number) => void): number;
  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void;
  /** C [m, n] = A^T B over k rows (gemmT), in chunks added in float64. */
  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void;
  /** The result as a backend tensor; frees the scratch. */
  finish(): TensorInfo;
  /** Frees everything after a failure. */
  abandon(): void;
}

class HeapWorkspace implements Workspace {
  readonly memory: WebAssembly.Memory;
  private readonly scratch: TensorInfo[] = [];
  private result: TensorInfo | undefined;

  constructor(
    private readonly backend: BackendWasm,
    private readonly kernels: Kernels,
  ) {
    this.memory = (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
  }

  input(info: TensorInfo): number {
    return this.backend.getMemoryOffset(info.dataId);
  }

  alloc(length: number): number {
    const region = this.backend.makeOutput([length], 'float32');
    this.scratch.push(region);
    return this.backend.getMemoryOffset(region.dataId);
  }

  output(shape: number[]): number {
    this.result = this.backend.makeOutput(shape, 'float32');
    return this.backend.getMemoryOffset(this.result.dataId);
  }

  /** Heap addresses change from call to call: always built. */
  table(_key: string, length: number, build: (addresses: Int32Array, at: number) => void): number {
    const ptr = this.alloc(length);
    build(new Int32Array(this.memory.buffer), ptr / 4);
    return ptr;
  }

  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void {
    this.kernels.gemmSeg(m, n, segK, segs, rows, stride, b, crows, bias);
  }

  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void {
    const chunk = chunkRows(k);
    const partials = this.alloc(Math.ceil(k / chunk) * m * n);
    gemmTChunks(this.kernels, m, n, k, rows, b, partials, chunk);
    addChunks(new Float32Array(this.memory.buffer), partials, Math.ceil(k / chunk), m * n, c);
  }

  finish(): TensorInfo {
    for (const region of this.scratch) this.backend.disposeData(region.dataId);
    return this.result!;
  }

  abandon(): void {
    for (const region of [...this.scratch, ...(this.result ? [this.result] : [])]) this.backend.disposeData(region.dataId);
  }
}

/** Tables of the two-thread workspace by key (a Wide-ResNet step has ~20). */
const tableCache = new Map<string, Int32Array>();
const TABLE_CACHE_ENTRIES = 64;

/** Products smaller than this many rows stay on one thread. */
const SPLIT_MIN_ROWS = 64;

/** Rows per float32 chunk of a transposed product: at least 256, at most 64 chunks. */
function chunkRows(k: number): number {
  return Math.max(256, Math.ceil(k / 64));
}

/** c = the sum of `chunks` [size] float32 blocks at `partials`, added in float64. */
function addChunks(floats: Float32Array, partials: number, chunks: number, size: number, c: number): void {
  const sums = new Float64Array(size);
  for (let i = 0; i < chunks; i++) {
    const at = partials / FLOAT_BYTES + i * size;
    for (let j = 0; j < size; j++) sums[j] += floats[at + j];
  }
  floats.set(sums, c / FLOAT_BYTES);
}

class ThreadWorkspace implements Workspace {
  readonly memory: WebAssembly.Memory;
  private result: { ptr: number; shape: number[] } | undefined;

  constructor(
    private readonly backend: BackendWasm,
    private readonly threads: GemmThreads,
  ) {
    this.memory = threads.memory;
  }

  input(info: TensorInfo): number {
    const values = this.backend.typedArrayFromHeap(info) as Float32Array;
    const ptr = this.threads.alloc(values.length);
    this.threads.floats().set(values, ptr / FLOAT_BYTES);
    return ptr;
  }

  alloc(length: number): number {
    return this.threads.alloc(length);
  }

  output(shape: number[]): number {
    const ptr = this.threads.alloc(tf.util.sizeFromShape(shape));
    this.result = { ptr, shape };
    return ptr;
  }

  /**
   * The arena is laid out the same way by every call of the same operation on the same shapes,
   * so its tables repeat exactly: built once (~1-2 ms for a 3x3 layer at batch 32), then copied.
   */
  table(key: string, length: number, build: (addresses: Int32Array, at: number) => void): number {
    const ptr = this.threads.alloc(length);
    const addresses = this.threads.ints();
    const cached = tableCache.get(key);
    if (cached !== undefined && cached.length === length) {
      addresses.set(cached, ptr / 4);
    } else {
      build(addresses, ptr / 4);
      if (tableCache.size >= TABLE_CACHE_ENTRIES) tableCache.clear();
      tableCache.set(key, addresses.slice(ptr / 4, ptr / 4 + length));
    }
    return ptr;
  }

  /** Rows split in two multiples of 4: the first part here, the rest on the worker. */
  gemmSeg(m: number, n: number, segK: number, segs: number, rows: number, stride: number, b: number, crows: number, bias: number): void {
    const { kernels } = this.threads;
    if (m < SPLIT_MIN_ROWS) return kernels.gemmSeg(m, n, segK, segs, rows, stride, b, crows, bias);
    const here = 4 * Math.ceil(m / 8);
    this.threads.split('gemmSeg', [m - here, n, segK, segs, rows + 4 * here, stride, b, crows + 4 * here, bias], () =>
      kernels.gemmSeg(here, n, segK, segs, rows, stride, b, crows, bias),
    );
  }

  /** Chunks split in two: each thread computes its chunks' products, all added after. */
  gemmT(m: number, n: number, k: number, rows: number, b: number, c: number): void {
    const { kernels } = this.threads;
    const chunk = chunkRows(k);
    const chunks = Math.ceil(k / chunk);
    const partials = this.threads.alloc(chunks * m * n);
    if (chunks < 2) {
      gemmTChunks(kernels, m, n, k, rows, b, partials, chunk);
    } else {
      const hereRows = Math.ceil(chunks / 2) * chunk;
      const workerChunks = partials + Math.ceil(chunks / 2) * m * n * FLOAT_BYTES;
      this.threads.split('gemmTChunks', [m, n, k - hereRows, rows + 4 * hereRows, b + hereRows * n * FLOAT_BYTES, workerChunks, chunk], () =>
        gemmTChunks(kernels, m, n, hereRows, rows, b, partials, chunk),
      );
    }
    addChunks(this.threads.floats(), partials, chunks, m * n, c);
  }

  finish(): TensorInfo {
    const { ptr, shape } = this.result!;
    const out = this.backend.makeOutput(shape, 'float32');
    const size = tf.util.sizeFromShape(shape);
    (this.backend.typedArrayFromHeap(out) as Float32Array).set(this.threads.floats().subarray(ptr / FLOAT_BYTES, ptr / FLOAT_BYTES + size));
    this.threads.reset();
    return out;
  }

  abandon(): void {
    this.threads.reset();
  }
}

/**
 * Runs one convolution kernel in a workspace: the two-thread arena where it is available and the
 * operands fit, else the backend's heap. null where neither applies (no SIMD).
 */
function inWorkspace(backend: BackendWasm, body: (work: Workspace) => void): TensorInfo | null {
  const threads = gemmThreads();
  if (threads) {
    const work = new ThreadWorkspace(backend, threads);
    try {
      body(work);
      return work.finish();
    } catch (error) {
      work.abandon();
      if (!(error instanceof RangeError)) throw error;
    }
  }
  const kernels = heapKernels(backend);
  if (kernels === null) return null;
  const work = new HeapWorkspace(backend, kernels);
  try {
    body(work);
    return work.finish();
  } catch (error) {
    work.abandon();
    throw error;
  }
}

/**
 * A region of `floats` zeros (the row that taps in the padding read) followed by as many floats
 * of scratch (the row that padding rows of a product write).
 */
function spareRows(work: Workspace, floats: number): { zero: number; scratch: number } {
  const zero = work.alloc(2 * floats);
  return { zero, scratch: zero + floats * FLOAT_BYTES };
}

const int32View = (work: Workspace) => new Int32Array(work.memory.buffer);
const float32View = (work: Workspace) => new Float32Array(work.memory.buffer);

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
  const positions = g.batch * g.outHeight * g.outWidth;
  const rows = pad4(positions);
  const taps = g.kernelHeight * g.kernelWidth;
  return inWorkspace(backend, (work) => {
    const [xBase, filterPtr] = [work.input(x), work.input(filter)];
    const biasPtr = bias === undefined ? undefined : work.input(bias);
    const out = work.output([g.batch, g.outHeight, g.outWidth, g.outChannels]);
    const spareLength = Math.max(g.inChannels, g.outChannels) + 4;
    const { zero, scratch } = spareRows(work, spareLength);
    float32View(work).fill(0, zero / FLOAT_BYTES, zero / FLOAT_BYTES + spareLength);
    const pixelBytes = g.inChannels * FLOAT_BYTES;
    const key = `forward ${JSON.stringify(g)} ${[xBase, out, zero, scratch]}`;
    const table = work.table(key, taps * rows + rows, (addresses, tableAt) => {
      for (let ty = 0, t = 0; ty < g.kernelHeight; ty++) {
        for (let tx = 0; tx < g.kernelWidth; tx++, t++) {
          const at = fillTap(addresses, tableAt + t * rows, g.batch, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, ty - g.top, tx - g.left, g.inHeight, g.inWidth, xBase, pixelBytes, zero);
          addresses.fill(zero, at, tableAt + (t + 1) * rows);
        }
      }
      const outRows = tableAt + taps * rows;
      for (let p = 0; p < rows; p++) addresses[outRows + p] = p < positions ? out + p * g.outChannels * FLOAT_BYTES : scratch;
    });
    const outRows = table + taps * rows * 4;
    work.gemmSeg(rows, g.outChannels, g.inChannels, taps, table, rows, filterPtr, outRows, biasPtr ?? zero);
  });
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [kh, kw, inChannels, outChannels]. */
export function convInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo | null {
  const { strideHeight: sh, strideWidth: sw, inChannels: ci, outChannels: co } = g;
  // Fewer than 4 input channels (an RGB stem, whose input gradient tfjs computes although nothing
  // uses it): rows of 4 with zero weights past ci, narrowed after.
  const width = pad4(ci);
  // Taps by phase: tap ty reaches input rows qy with (qy + top - ty) divisible by the stride.
  const tapsOf = (phase: number, size: number, stride: number) =>
    Array.from({ length: size }, (_, t) => t).filter((t) => t % stride === phase);
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
    floats.fill(0, zero / FLOAT_BYTES, zero / FLOAT_BYTES + spareLength);
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
    const key = `input gradient ${JSON.stringify(g)} ${[dyBase, dx, zero, scratch]}`;
    const table = work.table(key, tableLength, (addresses, tableAt) => {
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
          const at = fillTap(addresses, segments + s * rows, g.batch, phase.countY, phase.countX, 1, 1, offsetY, offsetX, g.outHeight, g.outWidth, dyBase, co * FLOAT_BYTES, zero);
          addresses.fill(zero, at, segments + (s + 1) * rows);
        });
        let at = outRowsAt;
        for (let b = 0; b < g.batch; b++) {
          for (let qy = firstY; qy < g.inHeight; qy += sh) {
            const rowBase = dx + (b * g.inHeight + qy) * g.inWidth * width * FLOAT_BYTES;
            for (let qx = firstX; qx < g.inWidth; qx += sw) addresses[at++] = rowBase + qx * width * FLOAT_BYTES;
          }
        }
        addresses.fill(scratch, at, outRowsAt + rows);
      });
    });
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
    const dyPtr = work.input(dy);
    const dW = work.output([g.kernelHeight, g.kernelWidth, ci, co]);
    const { zero } = spareRows(work, width + 4);
    const partial = width === ci ? null : work.alloc(width * co);
    float32View(work).fill(0, zero / FLOAT_BYTES, zero / FLOAT_BYTES + width + 4);
    const pixelBytes = width * FLOAT_BYTES;
    const taps = g.kernelHeight * g.kernelWidth;
    const key = `filter gradient ${JSON.stringify(g)} ${[xBase, zero]}`;
    const table = work.table(key, taps * positions, (addresses, tableAt) => {
      for (let ty = 0, t = 0; ty < g.kernelHeight; ty++) {
        for (let tx = 0; tx < g.kernelWidth; tx++, t++) {
          fillTap(addresses, tableAt + t * positions, g.batch, g.outHeight, g.outWidth, g.strideHeight, g.strideWidth, ty - g.top, tx - g.left, g.inHeight, g.inWidth, xBase, pixelBytes, zero);
        }
      }
    });
    for (let t = 0; t < taps; t++) {
      const target = partial ?? dW + t * ci * co * FLOAT_BYTES;
      work.gemmT(width, co, positions, table + t * positions * 4, dyPtr, target);
      if (partial !== null) float32View(work).copyWithin(dW / FLOAT_BYTES + t * ci * co, partial / FLOAT_BYTES, partial / FLOAT_BYTES + ci * co);
    }
  });
}
