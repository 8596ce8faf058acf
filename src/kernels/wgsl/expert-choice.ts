/**
 * Expert choice per image: for each (image b, expert s), the l patches with the highest scores,
 * highest first, equal scores going to the lower patch index (a later patch must score strictly
 * higher to displace one), and their gates G_{j,s}:
 * - softmax-selected: softmax over the l chosen scores;
 * - softmax-all: softmax over all n scores, read at the chosen (exp(g - logsumexp), kept in `lse`);
 * - hard: 1.
 * Writes chosen [batch, k, l] (u32), gates [batch, k, l], lse [batch, k], and the inverse table slot
 * [batch, k, n] (i32): which slot t took patch j, or -1. One thread per (image, expert).
 */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'scores', kind: 'read' },
  { name: 'chosen', kind: 'write', type: 'array<u32>' },
  { name: 'gates', kind: 'write' },
  { name: 'lse', kind: 'write' },
  { name: 'slot', kind: 'write', type: 'array<i32>' },
] as const;

/** Binds scores [batch n, k], chosen, gates, lse and slot. */
export function expertChoiceKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.batch * g.experts;
  const grid = flatGrid(count, 64);
  const gates =
    g.gate === 'hard'
      ? `for (var t = 0u; t < L; t = t + 1u) { gates[base + t] = 1.0; }`
      : g.gate === 'softmax-selected'
        ? `var total = 0.0;
  for (var t = 0u; t < L; t = t + 1u) { total = total + exp(top[t] - top[0]); }
  for (var t = 0u; t < L; t = t + 1u) { gates[base + t] = exp(top[t] - top[0]) / total; }`
        : `var peak = score(b, s, 0u);
  for (var j = 1u; j < NP; j = j + 1u) { peak = max(peak, score(b, s, j)); }
  var total = 0.0;
  for (var j = 0u; j < NP; j = j + 1u) { total = total + exp(score(b, s, j) - peak); }
  let logSum = peak + log(total);
  lse[i] = logSum;
  for (var t = 0u; t < L; t = t + 1u) { gates[base + t] = exp(top[t] - logSum); }`;
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
fn score(b: u32, s: u32, j: u32) -> f32 { return scores[(b * NP + j) * K + s]; }
${flatMain(grid, 64)}
  if (i >= ${u32(count)}) { return; }
  let b = i / K;
  let s = i % K;
  var top: array<f32, ${g.patchesPerExpert}>;
  var index: array<u32, ${g.patchesPerExpert}>;
  var size = 0u;
  for (var j = 0u; j < NP; j = j + 1u) {
    let v = score(b, s, j);
    if (size == L && !(v > top[L - 1u])) { continue; }
    var place = select(L - 1u, size, size < L);
    if (size < L) { size = size + 1u; }
    while (place > 0u && v > top[place - 1u]) {
      top[place] = top[place - 1u];
      index[place] = index[place - 1u];
      place = place - 1u;
    }
    top[place] = v;
    index[place] = j;
  }
  let base = i * L;
  for (var j = 0u; j < NP; j = j + 1u) { slot[i * NP + j] = -1; }
  for (var t = 0u; t < L; t = t + 1u) {
    chosen[base + t] = index[t];
    slot[i * NP + index[t]] = i32(t);
  }
  ${gates}
}
`;
  return { name: `expert-choice ${g.batch}x${g.experts} top ${g.patchesPerExpert} of ${g.patches} (${g.gate})`, code, bindings: BINDINGS, workgroups: grid };
}
