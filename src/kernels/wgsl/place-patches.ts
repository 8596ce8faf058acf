/**
 * The PatchMoE's output: each expert's outputs u[s] [batch l, ph, pw, f], scaled by their gates,
 * back at their patches' places in the expert's channel slice: y [batch, H, W, k f], channels
 * expert-major, zero where the expert took no patch. Every output is written once (the inverse slot
 * table says which slot, if any, covers it), so no clearing and no atomics.
 */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'expertOut', kind: 'read' },
  { name: 'gates', kind: 'read' },
  { name: 'slot', kind: 'read', type: 'array<i32>' },
  { name: 'y', kind: 'write' },
] as const;

/** Binds u [k, batch l, ph, pw, f], gates [batch, k, l], slot [batch, k, n] and y [batch, H, W, k f]. */
export function placePatchesKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.batch * g.height * g.width * g.experts * g.filtersPerExpert;
  const grid = flatGrid(count);
  const gate = g.gate === 'hard' ? '1.0' : 'gates[(b * K + s) * L + u32(t)]';
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let o = i % F;
  let s = (i / F) % K;
  let pixel = i / (K * F);
  let xw = pixel % W;
  let yh = (pixel / W) % H;
  let b = pixel / (W * H);
  let j = (yh / PH) * GRID_COLS + xw / PW;
  let q = (yh % PH) * PW + xw % PW;
  let t = slot[(b * K + s) * NP + j];
  var v = 0.0;
  if (t >= 0) { v = ${gate} * expertOut[((s * B + b) * L + u32(t)) * PIXELS * F + q * F + o]; }
  y[i] = v;
}
`;
  return { name: `place-patches ${g.batch}x${g.height}x${g.width}x${g.experts * g.filtersPerExpert}`, code, bindings: BINDINGS, workgroups: grid };
}
