/**
 * The scores' gradient from the gates' (the gates as expert-choice.ts computes them), one thread
 * per (image b, expert s), written over all n scores of the column:
 * - softmax-selected: dg_{chosen t} = G_t (dG_t - sum_u dG_u G_u), zero elsewhere;
 * - softmax-all: dg_j = -softmax_j sum_u dG_u G_u, plus dG_t G_t at the chosen t;
 * - hard: zero (the gates do not depend on the scores).
 */
import { declareAll, flatGrid, flatMain, u32, type WgslKernel } from './kernel.js';
import { patchConstants, patchMoeGeometry, type PatchMoeShape } from './patch-layout.js';

const BINDINGS = [
  { name: 'scores', kind: 'read' },
  { name: 'chosen', kind: 'read', type: 'array<u32>' },
  { name: 'gates', kind: 'read' },
  { name: 'lse', kind: 'read' },
  { name: 'dGates', kind: 'read' },
  { name: 'dScores', kind: 'write' },
] as const;

/** Binds scores [batch n, k], chosen, gates, lse, dGates and dScores [batch n, k]. */
export function gateGradientKernel(shape: PatchMoeShape): WgslKernel {
  const g = patchMoeGeometry(shape);
  const count = g.batch * g.experts;
  const grid = flatGrid(count, 64);
  const body =
    g.gate === 'hard'
      ? ''
      : g.gate === 'softmax-selected'
        ? `  for (var t = 0u; t < L; t = t + 1u) {
    let gi = i * L + t;
    dScores[(b * NP + chosen[gi]) * K + s] = gates[gi] * (dGates[gi] - weighted);
  }`
        : `  for (var j = 0u; j < NP; j = j + 1u) {
    let at = (b * NP + j) * K + s;
    dScores[at] = -exp(scores[at] - lse[i]) * weighted;
  }
  for (var t = 0u; t < L; t = t + 1u) {
    let gi = i * L + t;
    let at = (b * NP + chosen[gi]) * K + s;
    dScores[at] = dScores[at] + dGates[gi] * gates[gi];
  }`;
  const code = `${declareAll(BINDINGS)}
${patchConstants(g)}
${flatMain(grid, 64)}
  if (i >= ${u32(count)}) { return; }
  let b = i / K;
  let s = i % K;
  var weighted = 0.0;
  for (var t = 0u; t < L; t = t + 1u) { weighted = weighted + dGates[i * L + t] * gates[i * L + t]; }
  if (${g.gate === 'softmax-all' ? 'false' : 'true'}) {
    for (var j = 0u; j < NP; j = j + 1u) { dScores[(b * NP + j) * K + s] = 0.0; }
  }
${body}
}
`;
  return { name: `gate-gradient ${g.batch}x${g.experts} (${g.gate})`, code, bindings: BINDINGS, workgroups: grid };
}
