/**
 * The gradient at the PatchMoE's input z [batch, H, W, C]: at each pixel of patch j of image b, the
 * sum over the experts that took the patch of their mini-images' input gradient dG[s] at its slot
 * (a gather through the inverse slot table, so experts sharing a patch add in a fixed order, no
 * atomics), plus the routers' share sum_s dScores[b n + j, s] R[(q C + c), s] (none for hard gates).
 * Written, or with `accumulate` added to what another reader of z put there.
 */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'dGathered', kind: 'read' },
  { name: 'slot', kind: 'read', type: 'array<i32>' },
  { name: 'dScores', kind: 'read' },
  { name: 'router', kind: 'read' },
  { name: 'dz', kind: 'write' },
] as const;

/** Binds dG [k, batch l, ph, pw, C], slot [batch, k, n], dScores [batch n, k], the router [ph pw C, k] and dz. */
export function patchInputGradientKernel(shape: PatchMoeShape, accumulate = false): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.batch * g.height * g.width * g.channels;
  const grid = flatGrid(count);
  const router = g.gate === 'hard' ? '' : `    total = total + dScores[(b * NP + j) * K + s] * router[(q * C + c) * K + s];\n`;
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
  let c = i % C;
  let pixel = i / C;
  let xw = pixel % W;
  let yh = (pixel / W) % H;
  let b = pixel / (W * H);
  let j = (yh / PH) * GRID_COLS + xw / PW;
  let q = (yh % PH) * PW + xw % PW;
  var total = 0.0;
  for (var s = 0u; s < K; s = s + 1u) {
    let t = slot[(b * K + s) * NP + j];
    if (t >= 0) { total = total + dGathered[(((s * B + b) * L + u32(t)) * PIXELS + q) * C + c]; }
${router}  }
  dz[i] = ${accumulate ? 'dz[i] + total' : 'total'};
}
`;
  return { name: `patch-input-gradient ${g.batch}x${g.height}x${g.width}x${g.channels}${accumulate ? ' +=' : ''}`, code, bindings: BINDINGS, workgroups: grid };
}
