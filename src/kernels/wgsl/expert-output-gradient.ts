/**
 * The gradient at each expert's outputs, gathered back from dy [batch, H, W, k f]: for slot t of
 * (image b, expert s), du = G dy at the patch's pixels in the expert's channels (G = 1 for hard
 * gates), and the gate's gradient dG = sum over the patch's pixels and channels of dy u (u the
 * expert's output before the gate). One workgroup of 64 threads per slot.
 */
import { declareAll, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'dy', kind: 'read' },
  { name: 'expertOut', kind: 'read' },
  { name: 'chosen', kind: 'read', type: 'array<u32>' },
  { name: 'gates', kind: 'read' },
  { name: 'dExpertOut', kind: 'write' },
  { name: 'dGates', kind: 'write' },
] as const;

const THREADS = 64;

/** Binds dy, u [k, batch l, ph, pw, f], chosen, gates [batch, k, l], du (like u) and dGates [batch, k, l]. */
export function expertOutputGradientKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const workgroups = g.experts * g.slots;
  if (workgroups > 65535) throw new RangeError(`expert-output-gradient: ${workgroups} slots exceed one grid dimension`);
  const gate = g.gate === 'hard' ? '1.0' : 'gates[gi]';
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
var<workgroup> partial: array<f32, ${THREADS}>;
@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x;
  let s = row / (B * L);
  let b = (row % (B * L)) / L;
  let t = row % L;
  let gi = (b * K + s) * L + t;
  let j = chosen[gi];
  let gate = ${gate};
  var total = 0.0;
  for (var e = li; e < PIXELS * F; e = e + ${u32(THREADS)}) {
    let q = e / F;
    let o = e % F;
    let grad = dy[patchPixel(b, j, q) * (K * F) + s * F + o];
    let at = row * PIXELS * F + e;
    total = total + grad * expertOut[at];
    dExpertOut[at] = gate * grad;
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
  return { name: `expert-output-gradient ${g.experts}x${g.slots}x${g.pixels * g.filtersPerExpert}`, code, bindings: BINDINGS, workgroups: [workgroups, 1, 1] };
}
