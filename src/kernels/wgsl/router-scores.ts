/**
 * The routers' scores g_{j,s} = <w_s, x^(j)> of every patch j of every image for every expert s:
 * scores [batch n, k] = patches [batch n, ph pw C] R [ph pw C, k], as an implicit GEMM that reads the
 * patches straight from the map (no patchified copy).
 */
import { chooseTile, gemmSource, type TileChoice } from './implicit-gemm.js';
import { declareAll, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'z', kind: 'read' },
  { name: 'router', kind: 'read' },
  { name: 'scores', kind: 'write' },
] as const;

/** Binds z [batch, H, W, C], the router kernel [ph pw C, k] and scores [batch n, k]. */
export function routerScoresKernel(shape: PatchMoeShape, gemm: TileChoice = {}): WgslKernel {
  const g = patchMoeGeometry(shape);
  const m = g.batch * g.patches;
  const declarations = `${declareAll(BINDINGS)}
${patchConstants(g)}`;
  // Row m = b n + j; column k = (pixel q of the patch) C + c.
  const loadA = `fn loadA(g: u32, m: u32, k: u32) -> f32 { return z[patchPixel(m / NP, m % NP, k / C) * C + k % C]; }`;
  const loadB = `fn loadB(g: u32, k: u32, n: u32) -> f32 { return router[k * K + n]; }`;
  const store = `fn store(g: u32, split: u32, m: u32, n: u32, v: f32) { scores[m * K + n] = v; }`;
  const source = gemmSource({ m, n: g.experts, k: g.patchValues, groups: 1, splits: 1 }, chooseTile(m, g.experts, gemm), {
    declarations,
    loadA,
    aContiguous: 'k',
    loadB,
    bContiguous: 'n',
    store,
  });
  return {
    name: `router-scores ${g.batch}x${g.patches}x${g.patchValues} -> ${g.experts}`,
    code: source.code,
    bindings: BINDINGS,
    workgroups: source.workgroups,
  };
}
