/**
 * Convolution filter gradient as an implicit GEMM: dW[(ky, kx, ci), co] = sum over the output
 * positions p of the batch of x[pixel(p, ky, kx), ci] dy[p, co] (M = k k Ci, the kernel's rows;
 * N = Co; K = batch Ho Wo). The reduction is long and the output small, so it is split (split-K):
 * each chunk of positions writes a partial [M, N] and `splitSumKernel` adds them in a fixed order.
 */
import { convGeometry, type ConvShape } from './conv-geometry.js';
import { GRADIENT_SCALE, GRADIENT_SCALE_VALUE } from './conv-input-gradient.js';
import { productSource, type GemmChoice } from './gemm.js';
import { chooseSplits, chooseTile, usableSplits } from './implicit-gemm.js';
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'dy', kind: 'read' },
  { name: 'out', kind: 'write' },
] as const;

export interface FilterGradientPlan {
  /** The product: writes dW when `splits` is 1, else the partials [groups, splits, M, N]. */
  readonly product: WgslKernel;
  /** Adds the partials into dW; absent when `splits` is 1. */
  readonly sum?: WgslKernel;
  readonly splits: number;
  /** Floats of the partials buffer (0 when `splits` is 1). */
  readonly partialFloats: number;
}

/**
 * Binds x [groups][batch, H, W, Ci], dy [groups][batch, Ho, Wo, Co] and either dW (each group's at
 * its kernel group stride) or the partials (and, on subgroup matrices, dy's scale from gradient-scale.ts). `splits` (at most that many; fewer where the reduction is short) defaults to a choice that fills a large GPU.
 */
export function convFilterGradientKernels(shape: ConvShape, splits?: number, gemm: GemmChoice = {}): FilterGradientPlan {
  const g = convGeometry(shape);
  const m = g.kernelSize * g.kernelSize * g.inChannels;
  const n = g.outChannels;
  const k = g.batch * g.outHeight * g.outWidth;
  const tile = chooseTile(m, n, gemm);
  const chosen = splits !== undefined ? usableSplits(k, splits) : chooseSplits({ m, n, k, groups: g.groups }, tile);
  const bindings = gemm.matrix ? [...BINDINGS, GRADIENT_SCALE] : BINDINGS;
  const declarations = `${declareAll(bindings)}
const H = ${u32(g.inHeight)};
const W = ${u32(g.inWidth)};
const CI = ${u32(g.inChannels)};
const HO = ${u32(g.outHeight)};
const WO = ${u32(g.outWidth)};
const CO = ${u32(g.outChannels)};
const KS = ${u32(g.kernelSize)};
const S = ${u32(g.stride)};
const PT = ${g.padTop}i;
const PL = ${g.padLeft}i;
const XG = ${u32(g.inputSize)};
const DYG = ${u32(g.outputSize)};
const WG = ${u32(g.kernelGroupStride)};`;
  const loadA = `fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let ci = m % CI;
  let tap = m / CI;
  let ox = k % WO;
  let rest = k / WO;
  let oy = rest % HO;
  let b = rest / HO;
  let iy = i32(oy * S + tap / KS) - PT;
  let ix = i32(ox * S + tap % KS) - PL;
  if (iy < 0 || iy >= i32(H) || ix < 0 || ix >= i32(W)) { return 0.0; }
  return x[g * XG + ((b * H + u32(iy)) * W + u32(ix)) * CI + ci];
}`;
  const loadB = `fn loadB(g: u32, k: u32, n: u32) -> f32 { return dy[g * DYG + k * CO + n]; }`;
  const store =
    chosen === 1
      ? `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { out[g * WG + m * CO + n] = v; }`
      : `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { out[((g * SPLITS + split) * GEMM_M + m) * GEMM_N + n] = v; }`;
  const source = productSource(
    { m, n, k, groups: g.groups, splits: chosen },
    { ...gemm, tile },
    {
      declarations,
      loadA,
      aContiguous: 'm',
      loadB,
      bContiguous: 'n',
      store,
      scaleB: GRADIENT_SCALE_VALUE,
    },
  );
  const name = `conv-filter-gradient ${g.batch}x${g.inHeight}x${g.inWidth}x${g.inChannels} k${g.kernelSize} s${g.stride} -> ${g.outChannels}${g.groups > 1 ? ` x${g.groups}` : ''}`;
  const product = { name: `${name} (${chosen} splits)`, code: source.code, bindings, workgroups: source.workgroups };
  if (chosen === 1) return { product, splits: 1, partialFloats: 0 };
  return {
    product,
    sum: splitSumKernel({ size: m * n, groups: g.groups, splits: chosen, outGroupStride: g.kernelGroupStride }),
    splits: chosen,
    partialFloats: g.groups * chosen * m * n,
  };
}

/** out[g * outGroupStride + i] = sum over s of partials[(g splits + s) size + i], the splits added in order. */
export function splitSumKernel(attrs: { size: number; groups: number; splits: number; outGroupStride: number }): WgslKernel {
  const bindings = [
    { name: 'partials', kind: 'read' },
    { name: 'out', kind: 'write' },
  ] as const;
  const count = attrs.size * attrs.groups;
  const grid = flatGrid(count);
  const code = `${declareAll(bindings)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let g = i / ${u32(attrs.size)};
  let j = i % ${u32(attrs.size)};
  var total = 0.0;
  for (var s = 0u; s < ${u32(attrs.splits)}; s = s + 1u) {
    total = total + partials[(g * ${u32(attrs.splits)} + s) * ${u32(attrs.size)} + j];
  }
  out[g * ${u32(attrs.outGroupStride)} + j] = total;
}
`;
  return { name: `split-sum ${attrs.groups}x${attrs.size} over ${attrs.splits}`, code, bindings, workgroups: grid };
}
