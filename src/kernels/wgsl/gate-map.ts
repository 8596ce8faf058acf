/**
 * The official formulation's gate maps (routing/formulation.ts): expert s reads the whole map z
 * [batch, H, W, C] times its gate map, the gate G of each patch it chose tiled over the patch's
 * pixels and 0 elsewhere: m[s] = z G_s, the k maps one after another, m [k, batch, H, W, C].
 * Backward: each chosen patch's gate gradient dG = sum over its pixels and channels of dm[s] z,
 * and the input gradient dz = sum_s G_s dm[s] plus the routers' share. The slot table and gates are
 * expert-choice.ts's.
 */
import { declareAll, flatGrid, flatMain, flatWorkgroup, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

/** WGSL: for element i of one map [batch, H, W, C], its pixel's column, row, image b and patch j. */
const pixelOf = `  let pixel = i / C;
  let xw = pixel % W;
  let yh = (pixel / W) % H;
  let b = pixel / (W * H);
  let j = (yh / PH) * GRID_COLS + xw / PW;`;

const mapFloats = (g: PatchMoeGeometry) => g.batch * g.height * g.width * g.channels;

const MAP_BINDINGS = [
  { name: 'z', kind: 'read' },
  { name: 'gates', kind: 'read' },
  { name: 'slot', kind: 'read', type: 'array<i32>' },
  { name: 'masked', kind: 'write' },
] as const;

/** Binds z [batch, H, W, C], gates [batch, k, l], slot [batch, k, n] and m [k, batch, H, W, C]. */
export function gateMapKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = mapFloats(g);
  const grid = flatGrid(count);
  const code = `${declareAll(MAP_BINDINGS)}
${patchConstants(g)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
${pixelOf}
  let value = z[i];
  for (var s = 0u; s < K; s = s + 1u) {
    let t = slot[(b * K + s) * NP + j];
    var v = 0.0;
    if (t >= 0) { v = value * gates[(b * K + s) * L + u32(t)]; }
    masked[s * ${u32(count)} + i] = v;
  }
}
`;
  return { name: `gate-map ${g.batch}x${g.height}x${g.width}x${g.channels} x${g.experts}`, code, bindings: MAP_BINDINGS, workgroups: grid };
}

const GATE_BINDINGS = [
  { name: 'dMasked', kind: 'read' },
  { name: 'z', kind: 'read' },
  { name: 'chosen', kind: 'read', type: 'array<u32>' },
  { name: 'dGates', kind: 'write' },
] as const;

const THREADS = 64;

/** Binds dm [k, batch, H, W, C], z, chosen and dGates [batch, k, l]; one workgroup of 64 threads per chosen patch. */
export function gateMapGradientKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.batch * g.experts * g.patchesPerExpert;
  const grid = flatGrid(count, 1);
  const code = `${declareAll(GATE_BINDINGS)}
${patchConstants(g)}
var<workgroup> partial: array<f32, ${THREADS}>;
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let gi = ${flatWorkgroup(grid)};
  if (gi >= ${u32(count)}) { return; }
  let s = (gi / L) % K;
  let b = gi / (K * L);
  let j = chosen[gi];
  let base = s * ${u32(mapFloats(g))};
  var total = 0.0;
  for (var e = li; e < D; e = e + ${u32(THREADS)}) {
    let at = patchPixel(b, j, e / C) * C + e % C;
    total = total + dMasked[base + at] * z[at];
  }
  partial[li] = total;
  workgroupBarrier();
  if (li == 0u) {
    var sum = 0.0;
    for (var k = 0u; k < ${u32(THREADS)}; k = k + 1u) { sum = sum + partial[k]; }
    dGates[gi] = sum;
  }
}
`;
  return { name: `gate-map-gradient ${g.batch}x${g.experts}x${g.patchesPerExpert}`, code, bindings: GATE_BINDINGS, workgroups: grid };
}

const INPUT_BINDINGS = [
  { name: 'dMasked', kind: 'read' },
  { name: 'gates', kind: 'read' },
  { name: 'slot', kind: 'read', type: 'array<i32>' },
  { name: 'dScores', kind: 'read' },
  { name: 'router', kind: 'read' },
  { name: 'dz', kind: 'write' },
] as const;

/**
 * Binds dm, gates, slot, dScores [batch n, k], the router [ph pw C, k] and dz: sum_s G_s dm[s] plus
 * sum_s dScores[b n + j, s] R[(q C + c), s] (none for hard gates); written, or with `accumulate` added.
 */
export function gateMapInputGradientKernel(shape: PatchMoeShape, accumulate = false): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = mapFloats(g);
  const grid = flatGrid(count);
  const router = g.gate === 'hard' ? '' : `    total = total + dScores[(b * NP + j) * K + s] * router[(q * C + c) * K + s];\n`;
  const code = `${declareAll(INPUT_BINDINGS)}
${patchConstants(g)}
${flatMain(grid)}
  if (i >= ${u32(count)}) { return; }
${pixelOf}
  let c = i % C;
  let q = (yh % PH) * PW + xw % PW;
  var total = 0.0;
  for (var s = 0u; s < K; s = s + 1u) {
    let t = slot[(b * K + s) * NP + j];
    if (t >= 0) { total = total + gates[(b * K + s) * L + u32(t)] * dMasked[s * ${u32(count)} + i]; }
${router}  }
  dz[i] = ${accumulate ? 'dz[i] + total' : 'total'};
}
`;
  return {
    name: `gate-map-input-gradient ${g.batch}x${g.height}x${g.width}x${g.channels}${accumulate ? ' +=' : ''}`,
    code,
    bindings: INPUT_BINDINGS,
    workgroups: grid,
  };
}
