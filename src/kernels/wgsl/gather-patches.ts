/** Each expert's chosen patches as mini-images: G[s] [batch l, ph, pw, C], slot t of (b, s) at row b l + t. */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'z', kind: 'read' },
  { name: 'chosen', kind: 'read', type: 'array<u32>' },
  { name: 'gathered', kind: 'write' },
] as const;

/** Binds z [batch, H, W, C], chosen [batch, k, l] and G [k, batch l, ph, pw, C]. */
export function gatherPatchesKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.experts * g.slots * g.patchValues;
  const grid = flatGrid(count);
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let d = i % D;
  let row = i / D;
  let s = row / (B * L);
  let b = (row % (B * L)) / L;
  let t = row % L;
  let j = chosen[(b * K + s) * L + t];
  gathered[i] = z[patchPixel(b, j, d / C) * C + d % C];
}
`;
  return { name: `gather-patches ${g.experts}x${g.slots}x${g.patchValues}`, code, bindings: BINDINGS, workgroups: grid };
}
