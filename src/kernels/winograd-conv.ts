import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { ConvGeometry } from './conv-gemm.js';
import { pad4 } from './simd-gemm.js';
import type { WinogradKernels } from './simd-winograd.js';
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
 * Tiles split between two threads where the memory has them: each tile is computed the same way by
 * either thread, so one thread and two give the same floats.
 *
 * Two levels: the `...At` functions compute on byte addresses of any memory the kernels are bound
 * to (a training step's own arena; docs/kernels.md), with the scratch the caller sets aside
 * (winogradScratchFloats); winogradForward and the others run them on tfjs tensors of the wasm
 * backend, in a workspace (workspace.ts), widening or narrowing channels that are not multiples
 * of 4. Output channels must be multiples of 4 (convGeometry's rule).
 */

type TensorInfo = tf.TensorInfo;
const FLOAT_BYTES = 4;

/** The output tile side m of F(m x m, 3x3). */
export type WinogradTile = 2 | 4;
export type WinogradPass = 'forward' | 'inputGradient' | 'filterGradient';

/** Whether the Winograd kernels compute this convolution: 3x3, stride 1 (undilated, NHWC: convGeometry's rules). */
export function winogradApplies(g: ConvGeometry): boolean {
  return g.kernelHeight === 3 && g.kernelWidth === 3 && g.strideHeight === 1 && g.strideWidth === 1;
}

/** A memory the Winograd kernels run on: the kernels bound to it, views of it, and how its drivers run. */
export interface WinogradTarget {
  readonly winograd: WinogradKernels;
  /** A view of the memory (taken anew: growing it replaces the buffer). */
  ints(): Int32Array;
  floats(): Float32Array;
  /**
   * Runs a driver on each parameter block (one or two, covering disjoint tiles): the first on
   * this thread and the second on another where there is one, else one after the other.
   */
  split(name: 'winogradForward' | 'winogradFilterGradient', blocks: readonly number[]): void;
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

/**
 * Tiles per chunk of the filter gradient's float32 sums: at most 16 chunks of at least 64 tiles,
 * whole blocks, and no more chunks than 64 MB of sums hold (`sums` floats each: at 640 channels
 * one chunk's sums are 59 MB).
 */
function chunkTiles(tiles: number, nb: number, sums: number): number {
  const chunks = Math.max(1, Math.min(16, Math.floor(2 ** 24 / sums)));
  return nb * Math.ceil(Math.max(64, Math.ceil(tiles / chunks)) / nb);
}

/** The parameter block's fields (winograd.wat), in order. */
interface DriverCall {
  m: WinogradTile;
  batch: number;
  inH: number;
  inW: number;
  /** Input channels of the products (a multiple of 4). */
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

/** How one pass lays out its scratch and tiles: everything but the operands' addresses. */
interface Layout {
  readonly call: Omit<DriverCall, 'x' | 'u' | 'bias' | 'out'>;
  readonly nb: number;
  readonly tiles: number;
  readonly chunk: number;
  /** Floats of the filter's transform (forward, input gradient) or of the chunks' sums (filter gradient). */
  readonly transformed: number;
  /** Floats of one thread's blocks. */
  readonly perThread: number;
}

/** The driver's view of a pass on geometry g (its batch: this call's). */
function layoutOf(g: ConvGeometry, m: WinogradTile, pass: WinogradPass): Layout {
  const side = m + 2;
  const ci = pad4(g.inChannels);
  const co = g.outChannels;
  // The input gradient is a forward convolution of dy (co channels) to dx (ci, rounded up to 4).
  const call =
    pass === 'inputGradient'
      ? { m, batch: g.batch, inH: g.outHeight, inW: g.outWidth, ci: co, outH: g.inHeight, outW: g.inWidth, co: ci, top: 2 - g.top, left: 2 - g.left }
      : { m, batch: g.batch, inH: g.inHeight, inW: g.inWidth, ci, outH: g.outHeight, outW: g.outWidth, co, top: g.top, left: g.left };
  const nb = tilesPerBlock(call.ci, call.co, pass === 'filterGradient' ? 'filterGradient' : 'forward');
  const tiles = g.batch * Math.ceil(call.outH / m) * Math.ceil(call.outW / m);
  const sums = side * side * ci * co;
  const chunk = pass === 'filterGradient' ? chunkTiles(tiles, nb, sums) : 0;
  return {
    call,
    nb,
    tiles,
    chunk,
    // Filter gradient: the chunks' sums, then their float64 total.
    transformed: pass === 'filterGradient' ? (Math.ceil(tiles / chunk) + 1) * sums : sums,
    perThread: side * side * (nb * (call.ci + call.co) + 32 + Math.max(call.ci, call.co)),
  };
}

/** Region sizes in floats, each rounded up to 16 floats (64 bytes). */
const region = (floats: number) => Math.ceil(floats / 16) * 16;
const PARAMS = 32;

/**
 * The scratch, in floats, that a pass of geometry g (at its batch; a smaller batch needs no more)
 * takes from the caller: the filter's transform or the sums, two parameter blocks and two
 * threads' blocks. The region must be 64-byte aligned.
 */
export function winogradScratchFloats(g: ConvGeometry, m: WinogradTile, pass: WinogradPass): number {
  const layout = layoutOf(g, m, pass);
  return region(layout.transformed) + region((m + 2) ** 2 * 4) + 2 * (PARAMS + region(layout.perThread));
}

/** The scratch's parts: the filter's transform or the sums, the transform's work vectors, two parameter blocks with their threads' blocks. */
function scratchParts(layout: Layout, scratch: number): { transformed: number; work: number; blocks: { params: number; blocks: number }[] } {
  const work = scratch + FLOAT_BYTES * region(layout.transformed);
  let at = work + FLOAT_BYTES * region((layout.call.m + 2) ** 2 * 4);
  const blocks = [0, 1].map(() => {
    const part = { params: at, blocks: at + FLOAT_BYTES * PARAMS };
    at = part.blocks + FLOAT_BYTES * region(layout.perThread);
    return part;
  });
  return { transformed: scratch, work, blocks };
}

/** Writes the parameter blocks for the tiles in two halves (at whole `unit`s), or one where there is a single unit; returns their addresses. */
function parameterBlocks(t: WinogradTarget, layout: Layout, call: DriverCall, parts: ReturnType<typeof scratchParts>, unit: number): number[] {
  const units = Math.ceil(layout.tiles / unit);
  const split = Math.ceil(units / 2) * unit;
  const ranges =
    units < 2
      ? [[0, layout.tiles]]
      : [
          [0, split],
          [split, layout.tiles],
        ];
  const ints = t.ints();
  const c = call;
  return ranges.map(([start, end], i) => {
    const { params, blocks } = parts.blocks[i];
    ints.set(
      [c.m, c.batch, c.inH, c.inW, c.ci, c.outH, c.outW, c.co, c.top, c.left, c.x, c.u, c.bias, c.out, start, end, layout.nb, blocks, layout.chunk],
      params / 4,
    );
    return params;
  });
}

/**
 * out = conv(x, filter) + bias on byte addresses: x [batch, inH, inW, pad4(ci)] (channels past ci
 * zero), filter [3, 3, ci, co] (tfjs's layout), bias co floats (zeros for none), out
 * [batch, outH, outW, co]; scratch: winogradScratchFloats(g, m, 'forward') floats.
 */
export function winogradForwardAt(
  t: WinogradTarget,
  g: ConvGeometry,
  m: WinogradTile,
  x: number,
  filter: number,
  bias: number,
  out: number,
  scratch: number,
): void {
  const layout = layoutOf(g, m, 'forward');
  const parts = scratchParts(layout, scratch);
  const u = parts.transformed;
  const side = m + 2;
  const rows = layout.call.ci;
  // Rows of U past ci multiply zero channels; they must not hold NaN.
  if (rows !== g.inChannels) t.floats().fill(0, u / FLOAT_BYTES, u / FLOAT_BYTES + side * side * rows * g.outChannels);
  t.winograd.winogradTransformFilter(m, g.inChannels, g.outChannels, filter, u, rows * g.outChannels, g.outChannels, 0, parts.work);
  t.split('winogradForward', parameterBlocks(t, layout, { ...layout.call, x, u, bias, out }, parts, layout.nb));
}

/**
 * dx [batch, inH, inW, pad4(ci)] (channels past ci written zero) from dy [batch, outH, outW, co]
 * and filter [3, 3, ci, co], on byte addresses; zero: at least pad4(ci) zero floats; scratch:
 * winogradScratchFloats(g, m, 'inputGradient') floats.
 */
export function winogradInputGradientAt(
  t: WinogradTarget,
  g: ConvGeometry,
  m: WinogradTile,
  dy: number,
  filter: number,
  dx: number,
  zero: number,
  scratch: number,
): void {
  const layout = layoutOf(g, m, 'inputGradient');
  const parts = scratchParts(layout, scratch);
  const u = parts.transformed;
  const width = layout.call.co;
  t.winograd.winogradTransformFilter(m, g.inChannels, g.outChannels, filter, u, g.outChannels * width, width, 1, parts.work);
  t.split('winogradForward', parameterBlocks(t, layout, { ...layout.call, x: dy, u, bias: zero, out: dx }, parts, layout.nb));
}

/**
 * dW [3, 3, ci, co] from x [batch, inH, inW, pad4(ci)] (channels past ci zero) and dy
 * [batch, outH, outW, co], on byte addresses; scratch: winogradScratchFloats(g, m, 'filterGradient') floats.
 */
export function winogradFilterGradientAt(t: WinogradTarget, g: ConvGeometry, m: WinogradTile, x: number, dy: number, dW: number, scratch: number): void {
  const layout = layoutOf(g, m, 'filterGradient');
  const parts = scratchParts(layout, scratch);
  const sumsLength = (m + 2) ** 2 * layout.call.ci * g.outChannels;
  const chunks = Math.ceil(layout.tiles / layout.chunk);
  const partials = parts.transformed;
  const sums = partials + chunks * sumsLength * FLOAT_BYTES;
  t.split('winogradFilterGradient', parameterBlocks(t, layout, { ...layout.call, x, u: dy, bias: partials, out: 0 }, parts, layout.chunk));
  t.winograd.winogradSumChunks(sumsLength, chunks, partials, sumsLength * FLOAT_BYTES, sums);
  t.winograd.winogradFilterGradientOut(m, layout.call.ci, g.inChannels, g.outChannels, sums, dW);
}

/** A workspace as a target: its kernels, views and thread split. */
function targetOf(work: Workspace): WinogradTarget {
  return { winograd: work.winograd, ints: () => int32View(work), floats: () => float32View(work), split: (name, blocks) => work.winogradSplit(name, blocks) };
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
  return inWorkspace(backend, (work) => {
    const xPtr = widened(work, backend, x, g.inChannels, pad4(g.inChannels));
    const filterPtr = work.input(filter);
    const biasPtr = bias === undefined ? spareRows(work, g.outChannels + 4).zero : work.weights(bias);
    const scratch = work.alloc(winogradScratchFloats(g, m, 'forward'));
    const out = work.output([g.batch, g.outHeight, g.outWidth, g.outChannels]);
    winogradForwardAt(targetOf(work), g, m, xPtr, filterPtr, biasPtr, out, scratch);
  });
}

/** dx [batch, inHeight, inWidth, inChannels] from dy and the filter [3, 3, inChannels, outChannels] by F(m x m, 3x3). */
export function winogradInputGradient(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, m: WinogradTile): TensorInfo | null {
  if (!winogradApplies(g)) return null;
  const ci = g.inChannels;
  const width = pad4(ci);
  return inWorkspace(backend, (work) => {
    const [dyPtr, filterPtr] = [work.input(dy), work.input(filter)];
    const { zero } = spareRows(work, width + 4);
    const scratch = work.alloc(winogradScratchFloats(g, m, 'inputGradient'));
    const output = work.output([g.batch, g.inHeight, g.inWidth, ci]);
    const pixels = g.batch * g.inHeight * g.inWidth;
    const dx = width === ci ? output : work.alloc(pixels * width);
    winogradInputGradientAt(targetOf(work), g, m, dyPtr, filterPtr, dx, zero, scratch);
    if (dx !== output) {
      const floats = float32View(work);
      const [from, to] = [dx / FLOAT_BYTES, output / FLOAT_BYTES];
      for (let p = 0; p < pixels; p++) for (let c = 0; c < ci; c++) floats[to + p * ci + c] = floats[from + p * width + c];
    }
  });
}

/** dW [3, 3, inChannels, outChannels] from x and dy by F(m x m, 3x3). */
export function winogradFilterGradient(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry, m: WinogradTile): TensorInfo | null {
  if (!winogradApplies(g)) return null;
  return inWorkspace(backend, (work) => {
    const xPtr = widened(work, backend, x, g.inChannels, pad4(g.inChannels));
    const dyPtr = work.input(dy);
    const scratch = work.alloc(winogradScratchFloats(g, m, 'filterGradient'));
    const dW = work.output([3, 3, g.inChannels, g.outChannels]);
    winogradFilterGradientAt(targetOf(work), g, m, xPtr, dyPtr, dW, scratch);
  });
}
