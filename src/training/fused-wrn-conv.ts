import { countPhase, fillTap, fillTaps, firstOfPhase, type ConvGeometry } from '../kernels/conv-gemm.js';
import { chunkedPartials, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { ConvLayerSpec } from '../models/wrn-layers.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

/**
 * The convolutions of the fused image trainer, behind one small interface so that another
 * algorithm (Winograd, say) can replace the direct one layer by layer: a StepConvolution is built
 * once per layer for its input and output maps and computes the forward pass and both gradients
 * on byte addresses of the trainer's arena (NHWC, kernels [kh, kw, ci, co] as tfjs keeps them).
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
    arena.doubles(this.biasSums).fill(0);
    arena.batchNorm.columnSums(positions, co, dy, this.biasSums.ptr);
    new Float32Array(arena.floats(this.biasSums).buffer, dBias, co).set(arena.doubles(this.biasSums));
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
