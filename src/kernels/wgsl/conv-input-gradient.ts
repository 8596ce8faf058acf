/**
 * Convolution input gradient as implicit GEMMs: dx[q, ci] = sum over taps (ky, kx) and output
 * channels co of dy[p(q, ky, kx), co] W[ky, kx, ci, co], where p(q, ky, kx) is the output position
 * whose tap (ky, kx) reads input position q, when there is one.
 *
 * With stride s, q's taps are those with ky = (qy + padTop) mod s (mod s), and likewise for kx: the
 * input positions fall into s^2 phases (qy mod s, qx mod s), each with a fixed set of taps. One GEMM
 * per phase (M = its positions, N = Ci, K = its taps x Co) multiplies only the taps that reach its
 * positions: no zeros inserted between dy's rows, no wasted products (stride 1 has one phase).
 */
import { convGeometry, type ConvGeometry, type ConvShape } from './conv-geometry.js';
import { productSource, type GemmChoice } from './gemm.js';
import { declareAll, u32, type WgslKernel } from './kernel.js';

/** With subgroup matrices, dy is scaled by this (gradient-scale.ts) before it is rounded to f16. */
export const GRADIENT_SCALE = { name: 'gradScale', kind: 'read' } as const;
export const GRADIENT_SCALE_VALUE = 'gradScale[0]';

const BINDINGS = [
  { name: 'dy', kind: 'read' },
  { name: 'w', kind: 'read' },
  { name: 'dx', kind: 'write' },
] as const;

/** Positions and taps of one phase along one axis. */
function phaseAxis(size: number, kernel: number, stride: number, padBefore: number, phase: number) {
  const positions = phase < size ? Math.ceil((size - phase) / stride) : 0;
  const firstTap = (phase + padBefore) % stride;
  const taps = firstTap < kernel ? Math.ceil((kernel - firstTap) / stride) : 0;
  return { positions, firstTap, taps };
}

function phaseKernel(g: ConvGeometry, py: number, px: number, accumulate: boolean, gemm: GemmChoice): WgslKernel | undefined {
  const rows = phaseAxis(g.inHeight, g.kernelSize, g.stride, g.padTop, py);
  const cols = phaseAxis(g.inWidth, g.kernelSize, g.stride, g.padLeft, px);
  if (rows.positions === 0 || cols.positions === 0) return undefined;
  const k = rows.taps * cols.taps * g.outChannels;
  // No tap reaches this phase: its gradient is 0, which an accumulating kernel need not add.
  if (k === 0 && accumulate) return undefined;
  const m = g.batch * rows.positions * cols.positions;
  const n = g.inChannels;
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
const PT = ${u32(g.padTop)};
const PL = ${u32(g.padLeft)};
const PY = ${u32(py)};
const PX = ${u32(px)};
const HC = ${u32(rows.positions)};
const WC = ${u32(cols.positions)};
const KY0 = ${u32(rows.firstTap)};
const KX0 = ${u32(cols.firstTap)};
const NKX = ${u32(Math.max(1, cols.taps))};
const DYG = ${u32(g.outputSize)};
const DXG = ${u32(g.inputSize)};
const WG = ${u32(g.kernelGroupStride)};
fn inputPixel(m: u32) -> u32 {
  let jx = m % WC;
  let rest = m / WC;
  let jy = rest % HC;
  let b = rest / HC;
  return (b * H + PY + S * jy) * W + PX + S * jx;
}`;
  // Output row oy = (qy + PT - ky) / S, exact by the choice of ky's phase.
  const loadA = `fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let jx = m % WC;
  let rest = m / WC;
  let jy = rest % HC;
  let b = rest / HC;
  let co = k % CO;
  let tap = k / CO;
  let ky = KY0 + S * (tap / NKX);
  let kx = KX0 + S * (tap % NKX);
  let oyS = PY + S * jy + PT;
  let oxS = PX + S * jx + PL;
  if (oyS < ky || oxS < kx) { return 0.0; }
  let oy = (oyS - ky) / S;
  let ox = (oxS - kx) / S;
  if (oy >= HO || ox >= WO) { return 0.0; }
  return dy[g * DYG + ((b * HO + oy) * WO + ox) * CO + co];
}`;
  const loadB = `fn loadB(g: u32, k: u32, n: u32) -> f32 {
  let co = k % CO;
  let tap = k / CO;
  let ky = KY0 + S * (tap / NKX);
  let kx = KX0 + S * (tap % NKX);
  return w[g * WG + ((ky * KS + kx) * CI + n) * CO + co];
}`;
  const store = `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) {
  let at = g * DXG + inputPixel(m) * CI + n;
  dx[at] = ${accumulate ? 'dx[at] + v' : 'v'};
}`;
  const source = productSource({ m, n, k, groups: g.groups, splits: 1 }, gemm, {
    scaleA: GRADIENT_SCALE_VALUE,
    declarations,
    loadA,
    aContiguous: 'k',
    loadB,
    bContiguous: 'k',
    store,
  });
  return {
    name: `conv-input-gradient ${g.batch}x${g.inHeight}x${g.inWidth}x${g.inChannels} k${g.kernelSize} s${g.stride} phase ${py},${px}${accumulate ? ' +=' : ''}`,
    code: source.code,
    bindings,
    workgroups: source.workgroups,
  };
}

/**
 * Binds dy [groups][batch, Ho, Wo, Co], the kernels and dx [groups][batch, H, W, Ci] (and, on subgroup
 * matrices, dy's scale from gradient-scale.ts); one kernel per
 * phase, to run in order. `accumulate` adds to dx (another layer also reads x) instead of writing it.
 */
export function convInputGradientKernels(shape: ConvShape, accumulate = false, gemm: GemmChoice = {}): WgslKernel[] {
  const g = convGeometry(shape);
  const kernels: WgslKernel[] = [];
  for (let py = 0; py < g.stride; py++) {
    for (let px = 0; px < g.stride; px++) {
      const kernel = phaseKernel(g, py, px, accumulate, gemm);
      if (kernel) kernels.push(kernel);
    }
  }
  return kernels;
}
