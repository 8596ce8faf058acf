import { countPhase, fillTap, fillTaps, firstOfPhase, type ConvGeometry } from '../kernels/conv-gemm.js';
import { convTile, type ConvPass } from '../kernels/convolution.js';
import { chunkedPartials, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import {
  winogradApplies,
  winogradFilterGradientAt,
  winogradForwardAt,
  winogradInputGradientAt,
  winogradScratchFloats,
  type WinogradTile,
} from '../kernels/winograd-conv.js';
import type { ConvLayerSpec } from '../models/wrn-layers.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

/**
 * The convolutions of the fused image trainer, behind one small interface so that the algorithm
 * can change layer by layer and pass by pass: a StepConvolution is built once per layer for its
 * input and output maps and computes the forward pass and both gradients on byte addresses of
 * the trainer's arena (NHWC, kernels [kh, kw, ci, co] as tfjs keeps them). Two algorithms:
 * direct (per-tap SIMD products) and Winograd (kernels/winograd-conv.ts); selectedConvolution
 * takes each pass's from kernels/convolution.ts's table, as the wasm backend's kernels do.
 */
export interface StepConvolution {
  /** Fills what depends on the memory's final layout (called once, after StepMemory.finish()). */
  prepare(): void;
  /** y = conv(x, kernel) + bias for the first `batch` images. */
  forward(batch: number, kernel: number, bias: number): void;
  /** dKernel [kh, kw, ci, co] and dBias [co] (summed in float64) from x and dy [batch outPositions, co]. */
  filterGradient(batch: number, dy: number, dKernel: number, dBias: number): void;
  /** dx [batch inPositions, ci] from dy and the kernel (not for a layer on the images). */
  inputGradient(batch: number, kernel: number, dy: number, dx: number): void;
}

/** What a convolution algorithm is given to build one layer: its geometry (batch = the capacity) and its maps. */
export type ConvolutionFactory = (memory: StepMemory, geometry: ConvGeometry, x: MapBuffer, y: MapBuffer, withInputGradient: boolean) => StepConvolution;

/** A conv layer's geometry at batch `batch`, with tfjs's padding ('same': ceil(in / stride) outputs, the extra row and column at the bottom and right). */
export function layerGeometry(spec: ConvLayerSpec, batch: number): ConvGeometry {
  const [inHeight, inWidth, inChannels] = spec.inputShape;
  const [outHeight, outWidth, outChannels] = spec.outputShape;
  const k = spec.kernelSize;
  const padding = (outSize: number, inSize: number) => (spec.padding === 'same' ? Math.max((outSize - 1) * spec.stride + k - inSize, 0) : 0);
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels,
    kernelHeight: k,
    kernelWidth: k,
    strideHeight: spec.stride,
    strideWidth: spec.stride,
    top: Math.floor(padding(outHeight, inHeight) / 2),
    left: Math.floor(padding(outWidth, inWidth) / 2),
  };
}

const FLOAT_BYTES = 4;

/** dBias [co] = dy's column sums over `positions` rows, added in float64 in `sums` (2 co elements). */
function biasGradient(memory: StepMemory, sums: Region, positions: number, co: number, dy: number, dBias: number): void {
  const arena = memory.arena;
  arena.doubles(sums).fill(0);
  arena.batchNorm.columnSums(positions, co, dy, sums.ptr);
  new Float32Array(arena.floats(sums).buffer, dBias, co).set(arena.doubles(sums));
}

/** One output phase of the input gradient: the input rows with (q + pad) mod stride = (py, px), and the taps that reach them. */
interface Phase {
  readonly taps: (readonly [number, number])[];
  readonly py: number;
  readonly px: number;
  readonly countY: number;
  readonly countX: number;
  /** Rows of the phase at the capacity, padded to 4: the table's stride. */
  readonly rows: number;
  /** Where its segments start in the input-gradient table (entries). */
  readonly at: number;
}

/**
 * Direct convolution by per-tap SIMD products (gemmSeg and gemmT of gemm.wat, as the wasm
 * backend's pmoe kernels in kernels/conv-gemm.ts, with the same tables and sums, so the same
 * floats): forward, one segment per tap over a table of pixel addresses (a zero row in the
 * padding); input gradient split by output phase (no products with inserted zeros); filter
 * gradient one transposed product per tap in float32 chunks added in float64. The tables are
 * built once per layer; the input gradient's, which depend on where dy and dx are, are kept as
 * offsets and placed when those move.
 */
export class DirectConvolution implements StepConvolution {
  private readonly taps: number;
  /** Output rows at the capacity, padded to 4. */
  private readonly rows: number;
  /** taps segments of `rows` x addresses, then the output rows. */
  private readonly table: Region;
  /** The filter gradient of a narrow input (the images): [pad4(ci), co] per tap before the first ci rows are kept. */
  private readonly wide: Region | null;
  private readonly biasSums: Region;
  private readonly phases: Phase[] = [];
  private readonly gradientOffsets: Region | null = null;
  private readonly gradientTable: Region | null = null;
  private readonly packed: Region | null = null;
  private placedFor = { dy: -1, dx: -1 };

  constructor(
    private readonly memory: StepMemory,
    private readonly g: ConvGeometry,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
    withInputGradient: boolean,
  ) {
    const { arena, capacity } = memory;
    this.taps = g.kernelHeight * g.kernelWidth;
    this.rows = pad4(capacity * g.outHeight * g.outWidth);
    this.table = arena.alloc((this.taps + 1) * this.rows);
    const width = pad4(g.inChannels);
    if (width !== x.pixelFloats)
      throw new Error(`fused image trainer: ${y.name} reads ${x.pixelFloats} floats per pixel, not the ${width} its filter gradient takes`);
    this.wide = width === g.inChannels ? null : arena.alloc(width * g.outChannels);
    this.biasSums = arena.alloc(2 * g.outChannels);
    memory.need('partials', chunkedPartials(width, g.outChannels, capacity * g.outHeight * g.outWidth));
    memory.need('row', Math.max(g.inChannels, g.outChannels));
    if (!withInputGradient) return;
    if (g.inChannels % 4 !== 0) throw new Error(`fused image trainer: ${y.name}'s input gradient needs input channels in multiples of 4 (has ${g.inChannels})`);
    const tapsOf = (phase: number, size: number, stride: number) => Array.from({ length: size }, (_, t) => t).filter((t) => t % stride === phase);
    let at = 0;
    for (let py = 0; py < g.strideHeight; py++) {
      for (let px = 0; px < g.strideWidth; px++) {
        const taps = tapsOf(py, g.kernelHeight, g.strideHeight).flatMap((ty) => tapsOf(px, g.kernelWidth, g.strideWidth).map((tx) => [ty, tx] as const));
        const countY = countPhase(g.inHeight, g.top, g.strideHeight, py);
        const countX = countPhase(g.inWidth, g.left, g.strideWidth, px);
        const rows = pad4(capacity * countY * countX);
        this.phases.push({ taps, py, px, countY, countX, rows, at });
        at += (taps.length + 1) * rows;
      }
    }
    this.gradientOffsets = arena.alloc(at);
    this.gradientTable = arena.alloc(at);
    this.packed = arena.alloc(this.taps * g.outChannels * g.inChannels);
  }

  prepare(): void {
    const { arena, zeroRow, scratchRow } = this.memory;
    const { g, rows, taps } = this;
    const ints = arena.ints(this.table);
    fillTaps(ints, 0, rows, g, this.x.pixelFloats * FLOAT_BYTES);
    const outputs = g.batch * g.outHeight * g.outWidth;
    for (let p = 0; p < rows; p++) ints[taps * rows + p] = p < outputs ? p * g.outChannels * FLOAT_BYTES : -1;
    const t = this.table.ptr;
    arena.relocate(taps * rows, t, t, this.x.value.ptr, zeroRow);
    arena.relocate(rows, t + 4 * taps * rows, t + 4 * taps * rows, this.y.value.ptr, scratchRow);
    if (this.gradientOffsets !== null) this.fillGradientOffsets(arena.ints(this.gradientOffsets));
  }

  forward(batch: number, kernel: number, bias: number): void {
    const { g, rows, taps } = this;
    const m = pad4(batch * g.outHeight * g.outWidth);
    const t = this.table.ptr;
    this.memory.arena.gemmSeg(m, g.outChannels, g.inChannels, taps, t, rows, kernel, t + 4 * taps * rows, bias);
  }

  filterGradient(batch: number, dy: number, dKernel: number, dBias: number): void {
    const { arena, partials } = this.memory;
    const { g, rows, taps } = this;
    const { inChannels: ci, outChannels: co } = g;
    const positions = batch * g.outHeight * g.outWidth;
    for (let t = 0; t < taps; t++) {
      const target = this.wide?.ptr ?? dKernel + t * ci * co * FLOAT_BYTES;
      arena.gemmTChunked(pad4(ci), co, positions, this.table.ptr + 4 * t * rows, dy, target, partials);
      if (this.wide !== null) {
        const floats = arena.floats(this.wide);
        new Float32Array(floats.buffer, dKernel + t * ci * co * FLOAT_BYTES, ci * co).set(floats.subarray(0, ci * co));
      }
    }
    biasGradient(this.memory, this.biasSums, positions, co, dy, dBias);
  }

  inputGradient(batch: number, kernel: number, dy: number, dx: number): void {
    const { arena, zeroRow, scratchRow } = this.memory;
    const { g, phases } = this;
    const table = this.gradientTable!;
    if (this.placedFor.dy !== dy || this.placedFor.dx !== dx) {
      const offsets = this.gradientOffsets!;
      for (const phase of phases) {
        const [segments, outRows] = [phase.taps.length * phase.rows, phase.at + phase.taps.length * phase.rows];
        arena.relocate(segments, offsets.ptr + 4 * phase.at, table.ptr + 4 * phase.at, dy, zeroRow);
        arena.relocate(phase.rows, offsets.ptr + 4 * outRows, table.ptr + 4 * outRows, dx, scratchRow);
      }
      this.placedFor = { dy, dx };
    }
    // Each phase's B: W_t^T [co, ci] for each of its taps, in segment order.
    const { inChannels: ci, outChannels: co } = g;
    const floats = arena.floats(this.packed!);
    const weights = new Float32Array(floats.buffer, kernel, this.taps * ci * co);
    const packedAt: number[] = [];
    let at = 0;
    for (const { taps } of phases) {
      packedAt.push(this.packed!.ptr + 4 * at);
      for (const [ty, tx] of taps) {
        const tap = (ty * g.kernelWidth + tx) * ci * co;
        for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) floats[at++] = weights[tap + c * co + o];
      }
    }
    phases.forEach((phase, f) => {
      const m = pad4(batch * phase.countY * phase.countX);
      const segments = table.ptr + 4 * phase.at;
      // A phase without taps (stride above the kernel size) gets zeros (the bias, a zero row).
      if (m > 0) arena.gemmSeg(m, ci, co, phase.taps.length, segments, phase.rows, packedAt[f], segments + 4 * phase.taps.length * phase.rows, zeroRow);
    });
  }

  /** Per phase: each tap's dy rows as offsets from dy (-1: the zero row), then the dx rows as offsets from dx (-1: scratch). */
  private fillGradientOffsets(offsets: Int32Array): void {
    const { g } = this;
    const { strideHeight: sh, strideWidth: sw } = g;
    for (const phase of this.phases) {
      const firstY = firstOfPhase(g.top, sh, phase.py);
      const firstX = firstOfPhase(g.left, sw, phase.px);
      phase.taps.forEach(([ty, tx], s) => {
        // Input row firstY + k sh takes dy row k + (firstY + top - ty) / sh (exact: same phase).
        const start = phase.at + s * phase.rows;
        const end = fillTap(
          offsets,
          start,
          g.batch,
          phase.countY,
          phase.countX,
          1,
          1,
          (firstY + g.top - ty) / sh,
          (firstX + g.left - tx) / sw,
          g.outHeight,
          g.outWidth,
          g.outChannels * FLOAT_BYTES,
        );
        offsets.fill(-1, end, start + phase.rows);
      });
      let at = phase.at + phase.taps.length * phase.rows;
      const end = at + phase.rows;
      for (let b = 0; b < g.batch; b++) {
        for (let qy = firstY; qy < g.inHeight; qy += sh) {
          for (let qx = firstX; qx < g.inWidth; qx += sw) offsets[at++] = ((b * g.inHeight + qy) * g.inWidth + qx) * g.inChannels * FLOAT_BYTES;
        }
      }
      offsets.fill(-1, at, end);
    }
  }
}

/** The direct algorithm for every layer. */
export const directConvolution: ConvolutionFactory = (memory, geometry, x, y, withInputGradient) =>
  new DirectConvolution(memory, geometry, x, y, withInputGradient);

/** Per pass, the Winograd tile F(m x m, 3x3) it runs with, or null for the direct algorithm. */
export type ConvTiles = Readonly<Record<ConvPass, WinogradTile | null>>;

/**
 * A 3x3 stride-1 layer by Winograd's algorithms (kernels/winograd-conv.ts's `...At` functions on
 * the arena, split across its threads), each pass with its own tile; a pass without one runs the
 * direct algorithm. The passes share the trainer's Winograd scratch (they run one at a time).
 */
export class WinogradConvolution implements StepConvolution {
  private readonly direct: DirectConvolution | null;
  private readonly biasSums: Region;

  constructor(
    private readonly memory: StepMemory,
    private readonly g: ConvGeometry,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
    withInputGradient: boolean,
    private readonly tiles: ConvTiles,
  ) {
    if (!winogradApplies(g)) throw new Error(`fused image trainer: ${y.name} is not a 3x3 stride-1 convolution, which Winograd's algorithms need`);
    if (x.pixelFloats !== pad4(g.inChannels))
      throw new Error(`fused image trainer: ${y.name} reads ${x.pixelFloats} floats per pixel, not ${pad4(g.inChannels)}`);
    const passes: ConvPass[] = withInputGradient ? ['forward', 'inputGradient', 'filterGradient'] : ['forward', 'filterGradient'];
    const needsDirect = passes.some((pass) => tiles[pass] === null);
    this.direct = needsDirect ? new DirectConvolution(memory, g, x, y, withInputGradient && tiles.inputGradient === null) : null;
    for (const pass of passes) {
      const tile = tiles[pass];
      if (tile !== null) memory.need('winograd', winogradScratchFloats(g, tile, pass));
    }
    this.biasSums = memory.arena.alloc(2 * g.outChannels);
  }

  prepare(): void {
    this.direct?.prepare();
  }

  forward(batch: number, kernel: number, bias: number): void {
    const tile = this.tiles.forward;
    if (tile === null) return this.direct!.forward(batch, kernel, bias);
    const { memory } = this;
    winogradForwardAt(memory.arena.winograd, { ...this.g, batch }, tile, this.x.value.ptr, kernel, bias, this.y.value.ptr, memory.winogradScratch);
  }

  filterGradient(batch: number, dy: number, dKernel: number, dBias: number): void {
    const tile = this.tiles.filterGradient;
    if (tile === null) return this.direct!.filterGradient(batch, dy, dKernel, dBias);
    const { memory, g } = this;
    winogradFilterGradientAt(memory.arena.winograd, { ...g, batch }, tile, this.x.value.ptr, dy, dKernel, memory.winogradScratch);
    biasGradient(memory, this.biasSums, batch * g.outHeight * g.outWidth, g.outChannels, dy, dBias);
  }

  inputGradient(batch: number, kernel: number, dy: number, dx: number): void {
    const tile = this.tiles.inputGradient;
    if (tile === null) return this.direct!.inputGradient(batch, kernel, dy, dx);
    const { memory } = this;
    winogradInputGradientAt(memory.arena.winograd, { ...this.g, batch }, tile, dy, kernel, dx, memory.zeroRow, memory.winogradScratch);
  }
}

/** Each pass's tile as kernels/convolution.ts chooses it (its table, or PMOE_CONV), for a layer of geometry g. */
export function selectedTiles(g: ConvGeometry, withInputGradient: boolean): ConvTiles {
  return {
    forward: convTile(g, 'forward'),
    inputGradient: withInputGradient ? convTile(g, 'inputGradient') : null,
    filterGradient: convTile(g, 'filterGradient'),
  };
}

/** Every pass by the algorithm kernels/convolution.ts selects for its shape (PMOE_CONV=direct: the direct one everywhere, the same floats as directConvolution). */
export const selectedConvolution: ConvolutionFactory = (memory, geometry, x, y, withInputGradient) => {
  const tiles = selectedTiles(geometry, withInputGradient);
  if (Object.values(tiles).every((tile) => tile === null)) return new DirectConvolution(memory, geometry, x, y, withInputGradient);
  return new WinogradConvolution(memory, geometry, x, y, withInputGradient, tiles);
};

/** Floats of Winograd scratch a conv layer takes at `capacity` images under selectedConvolution (0 where it runs directly). */
export function selectedScratchFloats(spec: ConvLayerSpec, capacity: number): number {
  const g = layerGeometry(spec, capacity);
  const tiles = selectedTiles(g, !spec.readsImages);
  return Math.max(
    0,
    ...(Object.entries(tiles) as [ConvPass, WinogradTile | null][]).map(([pass, tile]) => (tile === null ? 0 : winogradScratchFloats(g, tile, pass))),
  );
}

/** A conv layer of the description: its weights, `<name>/kernel` [k, k, ci, co] and `<name>/bias` [co], and its convolution. */
export class ConvLayer {
  readonly kernel: WeightEntry;
  readonly bias: WeightEntry;
  private readonly convolution: StepConvolution;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: ConvLayerSpec,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
    algorithm: ConvolutionFactory,
  ) {
    const [, , inChannels] = spec.inputShape;
    const outChannels = spec.outputShape[2];
    if (outChannels % 4 !== 0) throw new Error(`fused image trainer: ${spec.name} needs output channels in multiples of 4 (has ${outChannels})`);
    this.kernel = memory.addWeight(`${spec.name}/kernel`, [spec.kernelSize, spec.kernelSize, inChannels, outChannels]);
    this.bias = memory.addWeight(`${spec.name}/bias`, [outChannels]);
    this.convolution = algorithm(memory, layerGeometry(spec, memory.capacity), x, y, !spec.readsImages);
  }

  prepare(): void {
    this.convolution.prepare();
  }

  forward(batch: number): void {
    this.convolution.forward(batch, this.memory.weightPtr(this.kernel), this.memory.weightPtr(this.bias));
  }

  backward(batch: number): void {
    const { memory, spec } = this;
    const dy = memory.gradient(this.y);
    this.convolution.filterGradient(batch, dy, memory.gradPtr(this.kernel), memory.gradPtr(this.bias));
    if (spec.readsImages) return;
    memory.contribute(this.x, batch * this.x.positions, (target) => this.convolution.inputGradient(batch, memory.weightPtr(this.kernel), dy, target));
  }
}
