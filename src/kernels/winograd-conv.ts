import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvGeometry } from './conv-gemm.js';
import { pad4 } from './simd-gemm.js';
import { float32View, inWorkspace, int32View, spareRows, type Workspace } from './workspace.js';

/**
 * 3x3 stride-1 convolutions and their two gradients by Winograd's minimal filtering, F(2x2, 3x3)
 * or F(4x4, 3x3) (src/kernels/winograd.wat has the transforms): 2.25x or 4x fewer multiplies than
 * direct convolution, at the price of the transforms and of rounding error that grows with the
 * tile (docs/kernels.md has both, measured against a float64 loop). convolution.ts decides where
 * they run.
 *
 * - forward: out = conv(x, g) + bias, tiles over the output;
 * - input gradient: dx = conv(dy, g rotated by 180 degrees with its channel axes swapped),
 *   padded by 2 - pad, tiles over dx;
 * - filter gradient: dg = G^T [sum over tiles of (A dy A^T) (.) (B^T x B)] G, tiles over dy; the
 *   tiles' sums go in chunks (fixed by the shape, not by the threads), each summed in float32 and
 *   the chunks added in float64.
 * Tiles split between the two threads where gemm-threads.ts runs them: each tile is computed the
 * same way by either thread, so one thread and two give the same floats. Channel counts that are
 * not multiples of 4 are widened with zeros (input channels) or narrowed after (the input
 * gradient's output); output channels must be multiples of 4 (convGeometry's rule).
 */

type TensorInfo = tf.TensorInfo;
const FLOAT_BYTES = 4;

/** The output tile side m of F(m x m, 3x3). */
export type WinogradTile = 2 | 4;

/** Whether the Winograd kernels compute this convolution: 3x3, stride 1 (undilated, NHWC: convGeometry's rules). */
export function winogradApplies(g: ConvGeometry): boolean {
  return g.kernelHeight === 3 && g.kernelWidth === 3 && g.strideHeight === 1 && g.strideWidth === 1;
}

/** Fields of a driver call's parameter block (winograd.wat), in order. */
interface DriverCall {
  m: WinogradTile;
  batch: number;
  inH: number;
  inW: number;
  ci: number;
  outH: number;
  outW: number;
  co: number;
  top: number;
  left: number;
  x: number;
  u: number;
  bias: number;
  out: number;
}

/**
 * Tiles per block: every block reads all of U (t^2 ci co floats) once and its own tiles' V and M
 * (t^2 nb (ci + co)), so nb grows with ci co / (ci + co); the filter gradient, which also reads
 * and writes its sums (t^2 ci co) once per block, takes twice as many. Measured (one thread, CPU
 * time, F(4x4) on 16-160 channels): the forward within 5 % of its best for nb from 8 to 32 at
 * 16-64 channels, and 12 % faster at nb 64-128 than 16 at 160; the filter gradient 1.2-1.6x faster
 * at 32-128 than at 8-16.
 */
function tilesPerBlock(ci: number, co: number, pass: 'forward' | 'filterGradient'): number {
  const forward = Math.min(128, Math.max(16, pad4((ci * co) / (ci + co))));
  return pass === 'forward' ? forward : Math.min(128, 2 * forward);
}

/** Tiles of the grid of an h x w map. */
function tileCount(m: WinogradTile, batch: number, h: number, w: number): number {
  return batch * Math.ceil(h / m) * Math.ceil(w / m);
}

/**
 * Writes one parameter block per range of tiles (each with its own scratch) and returns their
 * addresses: [start, end) pairs from `ranges`.
 */
function parameterBlocks(work: Workspace, call: DriverCall, ranges: readonly (readonly [number, number])[], nb: number, chunkTiles: number): number[] {
  const side = call.m + 2;
  const scratchFloats = side * side * (nb * (call.ci + call.co) + 32 + Math.max(call.ci, call.co));
  const blocks = ranges.map(() => ({ params: work.alloc(32), scratch: work.alloc(scratchFloats) }));
  const ints = int32View(work);
  ranges.forEach(([start, end], i) => {
    const { params, scratch } = blocks[i];
    const c = call;
    ints.set([c.m, c.batch, c.inH, c.inW, c.ci, c.outH, c.outW, c.co, c.top, c.left, c.x, c.u, c.bias, c.out, start, end, nb, scratch, chunkTiles], params / 4);
  });
  return blocks.map((block) => block.params);
}

/** Tiles in two halves at a block boundary where there are two blocks or more, else one range. */
function halves(tiles: number, unit: number): (readonly [number, number])[] {
  const units = Math.ceil(tiles / unit);
  if (units < 2) return [[0, tiles]];
  const split = Math.ceil(units / 2) * unit;
  return [
    [0, split],
    [split, tiles],
  ];
}

/** x's address, widened with zero channels to `width` where it has fewer. */
function widened(work: Workspace, backend: BackendWasm, x: TensorInfo, channels: number, width: number): number {
  if (width === channels) return work.input(x);
  const pixels = tf.util.sizeFromShape(x.shape) / channels;
  const ptr = work.alloc(pixels * width);
  const [source, target] = [backend.typedArrayFromHeap(x) as Float32Array, float32View(work)];
  const at = ptr / FLOAT_BYTES;
  target.fill(0, at, at + pixels * width);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < channels; c++) target[at + p * width + c] = source[p * channels + c];
  return ptr;
}

/** The filter g [3, 3, ci, co] transformed: U [t^2][rows][cols] (forward: rows ci, cols co; flipped: rows co, cols width). */
function transformedFilter(work: Workspace, filter: TensorInfo, g: ConvGeometry, m: WinogradTile, flipped: boolean, rows: number, cols: number): number {
  const side = m + 2;
  const filterPtr = work.input(filter);
  const u = work.alloc(side * side * rows * cols);
  const temp = work.alloc(side * side * 4);
  // Padded rows or columns multiply zero channels; they must not hold NaN.
  if ((flipped ? cols : rows) !== g.inChannels) float32View(work).fill(0, u / FLOAT_BYTES, u / FLOAT_BYTES + side * side * rows * cols);
  work.winograd.transformFilter(m, g.inChannels, g.outChannels, filterPtr, u, rows * cols, cols, flipped ? 1 : 0, temp);
  return u;
}

/** out = conv(x, filter) + bias [batch, outHeight, outWidth, outChannels] by F(m x m, 3x3); null where it does not apply. */
export function winogradForward(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  bias: TensorInfo | undefined,
  g: ConvGeometry,
  m: WinogradTile,
): TensorInfo | null {
  if (!winogradApplies(g)) return null;
  const ci = pad4(g.inChannels);
  const co = g.outChannels;
  return inWorkspace(backend, (work) => {
    const xPtr = widened(work, backend, x, g.inChannels, ci);
    const u = transformedFilter(work, filter, g, m, false, ci, co);
    const { zero } = spareRows(work, co + 4);
    const biasPtr = bias === undefined ? zero : work.weights(bias);
    const out = work.output([g.batch, g.outHeight, g.outWidth, co]);
    const call: DriverCall = {
      m,
      batch: g.batch,
      inH: g.inHeight,
      inW: g.inWidth,
      ci,
      outH: g.outHeight,
      outW: g.outWidth,
      co,
      top: g.top,
      left: g.left,
      x: xPtr,
      u,
      bias: biasPtr,
      out,
    };
    const nb = tilesPerBlock(ci, co, 'forward');
    const tiles = tileCount(m, g.batch, g.outHeight, g.outWidth);
    work.winogradSplit('winogradForward', parameterBlocks(work, call, halves(tiles, nb), nb, 0));
  });
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [3, 3, inChannels, outChannels] by F(m x m, 3x3). */
export function winogradInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, m: WinogradTile): TensorInfo | null {
  if (!winogradApplies(g)) return null;
  const ci = g.inChannels;
  const width = pad4(ci);
  const co = g.outChannels;
  return inWorkspace(backend, (work) => {
    const dyPtr = work.input(dy);
    const u = transformedFilter(work, filter, g, m, true, co, width);
    const { zero } = spareRows(work, width + 4);
    const output = work.output([g.batch, g.inHeight, g.inWidth, ci]);
    const pixels = g.batch * g.inHeight * g.inWidth;
    const dx = width === ci ? output : work.alloc(pixels * width);
    // A correlation of dy with the rotated filter: dx's window at (y, x) starts at dy's (y - (2 - top), x - (2 - left)).
    const call: DriverCall = {
      m,
      batch: g.batch,
      inH: g.outHeight,
      inW: g.outWidth,
      ci: co,
      outH: g.inHeight,
      outW: g.inWidth,
      co: width,
      top: 2 - g.top,
      left: 2 - g.left,
      x: dyPtr,
      u,
      bias: zero,
      out: dx,
    };
    const nb = tilesPerBlock(co, width, 'forward');
    const tiles = tileCount(m, g.batch, g.inHeight, g.inWidth);
    work.winogradSplit('winogradForward', parameterBlocks(work, call, halves(tiles, nb), nb, 0));
    if (dx !== output) {
      const floats = float32View(work);
      const [from, to] = [dx / FLOAT_BYTES, output / FLOAT_BYTES];
      for (let p = 0; p < pixels; p++) for (let c = 0; c < ci; c++) floats[to + p * ci + c] = floats[from + p * width + c];
    }
  });
}

/** Tiles per chunk of the filter gradient's float32 sums: at most 16 chunks of at least 64 tiles, whole blocks. */
function chunkTiles(tiles: number, nb: number): number {
  return nb * Math.ceil(Math.max(64, Math.ceil(tiles / 16)) / nb);
}

/** dW [3, 3, inChannels, outChannels] from x and dy by F(m x m, 3x3). */
export function winogradFilterGradient(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, m: WinogradTile): TensorInfo | null {
  if (!winogradApplies(g)) return null;
  const ci = pad4(g.inChannels);
  const co = g.outChannels;
  const side = m + 2;
  const sumsLength = side * side * ci * co;
  return inWorkspace(backend, (work) => {
    const xPtr = widened(work, backend, x, g.inChannels, ci);
    const dyPtr = work.aligned(dy);
    const dW = work.output([3, 3, g.inChannels, co]);
    const nb = tilesPerBlock(ci, co, 'filterGradient');
    const tiles = tileCount(m, g.batch, g.outHeight, g.outWidth);
    const chunk = chunkTiles(tiles, nb);
    const chunks = Math.ceil(tiles / chunk);
    const partials = work.alloc(chunks * sumsLength);
    const sums = work.alloc(sumsLength);
    const call: DriverCall = {
      m,
      batch: g.batch,
      inH: g.inHeight,
      inW: g.inWidth,
      ci,
      outH: g.outHeight,
      outW: g.outWidth,
      co,
      top: g.top,
      left: g.left,
      x: xPtr,
      u: dyPtr,
      bias: partials,
      out: 0,
    };
    work.winogradSplit('winogradFilterGradient', parameterBlocks(work, call, halves(tiles, chunk), nb, chunk));
    work.winograd.sumChunks(sumsLength, chunks, partials, sumsLength * FLOAT_BYTES, sums);
    work.winograd.filterGradientOut(m, ci, g.inChannels, co, sums, dW);
  });
}
