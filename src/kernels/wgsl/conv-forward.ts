/**
 * Convolution forward as an implicit GEMM (implicit-gemm.ts): y[p, co] = bias[co] + sum over taps
 * (ky, kx) and input channels ci of x[pixel(p, ky, kx), ci] W[ky, kx, ci, co], where p runs over
 * the output positions of the batch (M = batch Ho Wo), co over the output channels (N) and the
 * reduction over k = (ky, kx, ci) (K = k k Ci, the kernel's rows in its [k, k, Ci, Co] layout, so
 * B is the kernel as stored). A tap outside the image reads 0 ('same' padding).
 */
import { convGeometry, type ConvShape } from './conv-geometry.js';
import { productSource, type GemmChoice } from './gemm.js';
import { declareAll, u32, type WgslKernel } from './kernel.js';

const BINDINGS = [
  { name: 'x', kind: 'read' },
  { name: 'w', kind: 'read' },
  { name: 'bias', kind: 'read' },
  { name: 'y', kind: 'write' },
] as const;

/** Binds x [groups][batch, H, W, Ci], the kernels, the biases and y [groups][batch, Ho, Wo, Co]. */
export function convForwardKernel(shape: ConvShape, gemm: GemmChoice = {}): WgslKernel {
  const g = convGeometry(shape);
  const m = g.batch * g.outHeight * g.outWidth;
  const n = g.outChannels;
  const k = g.kernelSize * g.kernelSize * g.inChannels;
  const declarations = `${declareAll(BINDINGS)}
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
const YG = ${u32(g.outputSize)};
const WG = ${u32(g.kernelGroupStride)};
const BG = ${u32(g.biasGroupStride)};`;
  const loadA = `fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let ox = m % WO;
  let rest = m / WO;
  let oy = rest % HO;
  let b = rest / HO;
  let ci = k % CI;
  let tap = k / CI;
  let iy = i32(oy * S + tap / KS) - PT;
  let ix = i32(ox * S + tap % KS) - PL;
  if (iy < 0 || iy >= i32(H) || ix < 0 || ix >= i32(W)) { return 0.0; }
  return x[g * XG + ((b * H + u32(iy)) * W + u32(ix)) * CI + ci];
}`;
  const loadB = `fn loadB(g: u32, k: u32, n: u32) -> f32 { return w[g * WG + k * CO + n]; }`;
  const store = `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { y[g * YG + m * CO + n] = v + bias[g * BG + n]; }`;
  const source = productSource({ m, n, k, groups: g.groups, splits: 1 }, gemm, {
    declarations,
    loadA,
    aContiguous: 'k',
    loadB,
    bContiguous: 'n',
    store,
  });
  return {
    name: `conv-forward ${g.batch}x${g.inHeight}x${g.inWidth}x${g.inChannels} k${g.kernelSize} s${g.stride} -> ${g.outChannels}${g.groups > 1 ? ` x${g.groups}` : ''}`,
    code: source.code,
    bindings: BINDINGS,
    workgroups: source.workgroups,
  };
}
