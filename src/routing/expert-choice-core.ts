/**
 * Expert-choice routing on plain typed arrays: each expert's top l patches of an image with the
 * tie rule, their gates G_{j,s} for the three gate modes, and the gates' gradient to the scores.
 * The one implementation behind both fast paths (the PmoeExpertChoice op, src/routing/expert-choice-op.ts,
 * and the fused pMoE training step, src/training/fused-pmoe.ts); src/routing/route.ts is the
 * readable tf formulation that the tests hold this to.
 *
 * Scores are addressed as columns: one (image, expert) pair's n scores g_{j,s}, j < n, at
 * values[base + j step]. Both callers keep scores [batch n, k'] row-major, so the column of
 * image b and expert s has base (b n) k' + s and step k'.
 */

/** The gate modes (their meaning: src/routing/gate.ts). */
export type GateKind = 'softmax-selected' | 'softmax-all' | 'hard';

type Floats = Float32Array | Float64Array;

/** One (image, expert) column of scores: values[base + j step] for j < n. */
export interface ScoreColumn {
  values: Floats;
  base: number;
  step: number;
  n: number;
}

/** The l patches a column chose and their gates, at chosen[at .. at + l) and gates[at .. at + l). */
export interface Selection {
  chosen: Int32Array;
  gates: Floats;
  at: number;
  l: number;
}

const score = (column: ScoreColumn, j: number) => column.values[column.base + j * column.step];

/** The chosen scores, kept beside their indices while topL inserts (grown on demand). */
let topScores = new Float64Array(64);

/**
 * The l highest scores' patch indices into selection.chosen, highest first; equal scores go to
 * the lower patch index (tf.topk's order on cpu and wasm). Insertion into a sorted list of l, whose
 * scores are kept in a local array (cheaper than reading them back through the indices), rather
 * than TypedArray.sort with a comparator, which is far slower on columns this short.
 */
export function topL(column: ScoreColumn, selection: Selection): void {
  const { chosen, at, l } = selection;
  const { values, base, step, n } = column;
  if (topScores.length < l) topScores = new Float64Array(l);
  const top = topScores;
  let size = 0;
  for (let j = 0; j < n; j++) {
    const value = values[base + j * step];
    // Later indices go after equal values: ties stay with the lower index.
    if (size === l && !(value > top[l - 1])) continue;
    let place = size < l ? size++ : l - 1;
    while (place > 0 && value > top[place - 1]) {
      top[place] = top[place - 1];
      chosen[at + place] = chosen[at + place - 1];
      place--;
    }
    top[place] = value;
    chosen[at + place] = j;
  }
}

/** log sum_j exp(g_j) over the column's n scores, shifted by their maximum. */
export function logSumExp(column: ScoreColumn): number {
  let peak = -Infinity;
  for (let j = 0; j < column.n; j++) peak = Math.max(peak, score(column, j));
  let sum = 0;
  for (let j = 0; j < column.n; j++) sum += Math.exp(score(column, j) - peak);
  return peak + Math.log(sum);
}

/**
 * The gates of the chosen patches (after topL) into selection.gates:
 * - softmax-selected: softmax over the l chosen scores;
 * - softmax-all: softmax over all n scores, read at the chosen (exp(g_t - logSumExp));
 * - hard: 1.
 * Returns the log-sum-exp that softmax-all used (gateGradient takes it back), else NaN.
 */
export function writeGates(gate: GateKind, column: ScoreColumn, selection: Selection): number {
  const { chosen, gates, at, l } = selection;
  if (gate === 'hard') {
    gates.fill(1, at, at + l);
    return NaN;
  }
  let shift: number;
  let total = 1;
  if (gate === 'softmax-all') {
    shift = logSumExp(column);
  } else {
    shift = score(column, chosen[at]); // the largest chosen score
    total = 0;
    for (let t = 0; t < l; t++) total += Math.exp(score(column, chosen[at + t]) - shift);
  }
  for (let t = 0; t < l; t++) gates[at + t] = Math.exp(score(column, chosen[at + t]) - shift) / total;
  return gate === 'softmax-all' ? shift : NaN;
}

/**
 * The scores' gradient from the gates' (dGates at the selection's places), written over the
 * whole column of `dScores` (laid out like the scores: base and step of `column`):
 * - softmax-selected: d g_{chosen t} = G_t (dG_t - sum_u dG_u G_u), zero elsewhere;
 * - softmax-all: d g_j = -softmax_j sum_u dG_u G_u, plus dG_t G_t at chosen t;
 * - hard: zero (the gates do not depend on the scores).
 * `logSumExp`: what writeGates returned for softmax-all (computed here when omitted).
 */
export function gateGradient(
  gate: GateKind,
  column: ScoreColumn,
  selection: Selection,
  dGates: Floats,
  dScores: Floats,
  lse = gate === 'softmax-all' ? logSumExp(column) : NaN,
): void {
  const { chosen, gates, at, l } = selection;
  const { base, step, n } = column;
  for (let j = 0; j < n; j++) dScores[base + j * step] = 0;
  if (gate === 'hard') return;
  let weighted = 0;
  for (let t = 0; t < l; t++) weighted += dGates[at + t] * gates[at + t];
  if (gate === 'softmax-all') {
    for (let j = 0; j < n; j++) dScores[base + j * step] = -Math.exp(score(column, j) - lse) * weighted;
    for (let t = 0; t < l; t++) dScores[base + chosen[at + t] * step] += dGates[at + t] * gates[at + t];
  } else {
    for (let t = 0; t < l; t++) dScores[base + chosen[at + t] * step] = gates[at + t] * (dGates[at + t] - weighted);
  }
}
