/**
 * The routers' weight gradient dR [ph pw C, k] = patches^T dScores: a sum over every patch of the
 * batch, as an implicit GEMM with split-K (the patches read straight from the map) and an ordered
 * sum of the splits (conv-filter-gradient.ts's).
 */
import { splitSumKernel } from './conv-filter-gradient.js';
import { chooseSplits, chooseTile, gemmSource, usableSplits, type TileChoice } from './implicit-gemm.js';
import { declareAll, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'z', kind: 'read' },
  { name: 'dScores', kind: 'read' },
  { name: 'out', kind: 'write' },
] as const;

/** The product binds z, dScores [batch n, k] and dR (or the partials); the sum binds partials and dR. */
export function routerGradientKernels(
  shape: PatchMoeShape,
  splits?: number,
  gemm: TileChoice = {},
): { product: WgslKernel; sum?: WgslKernel; partialFloats: number } {
  const g = patchMoeGeometry(shape);
  const m = g.patchValues;
  const n = g.experts;
  const k = g.batch * g.patches;
  const tile = chooseTile(m, n, gemm);
  const chosen = splits !== undefined ? usableSplits(k, splits) : chooseSplits({ m, n, k, groups: 1 }, tile);
  const declarations = `${declareAll(BINDINGS)}
${patchConstants(g)}`;
  // Row m = (pixel q of the patch) C + c; reduction index k = b n + j.
  const loadA = `fn loadA(g: u32, m: u32, k: u32) -> f32 { return z[patchPixel(k / NP, k % NP, m / C) * C + m % C]; }`;
  const loadB = `fn loadB(g: u32, k: u32, n: u32) -> f32 { return dScores[k * K + n]; }`;
  const store =
    chosen === 1
      ? `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { out[m * K + n] = v; }`
      : `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { out[(split * GEMM_M + m) * GEMM_N + n] = v; }`;
  const source = gemmSource({ m, n, k, groups: 1, splits: chosen }, tile, { declarations, loadA, aContiguous: 'm', loadB, bContiguous: 'n', store });
  const product = {
    name: `router-gradient ${g.batch}x${g.patches}x${g.patchValues} -> ${g.experts} (${chosen} splits)`,
    code: source.code,
    bindings: BINDINGS,
    workgroups: source.workgroups,
  };
  if (chosen === 1) return { product, partialFloats: 0 };
  return { product, sum: splitSumKernel({ size: m * n, groups: 1, splits: chosen, outGroupStride: m * n }), partialFloats: chosen * m * n };
}
