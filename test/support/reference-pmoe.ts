/**
 * Plain float64 formulation of the paper's two-layer pMoE (eq. 1), written loop by loop from the
 * paper, as the reference the tensor implementation is checked against.
 */
export interface ReferenceWeights {
  /** [d, k] row-major. */
  routers: Float64Array;
  /** k arrays of [d, m/k] row-major. */
  experts: Float64Array[];
  /** [k * m/k, logits] row-major. */
  output: Float64Array;
}

export interface ReferenceShape {
  batch: number;
  n: number;
  d: number;
  k: number;
  neuronsPerExpert: number;
  l: number;
  logits: number;
  gate: 'softmax-selected' | 'softmax-all' | 'hard';
  pooling: 'selected' | 'all';
}

/** Indices of the l largest scores, highest first, ties to the lower index. */
export function topIndices(scores: number[], l: number): number[] {
  return scores
    .map((score, index) => ({ score, index }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, l)
    .map((entry) => entry.index);
}

export function referenceForward(patches: Float64Array, weights: ReferenceWeights, shape: ReferenceShape): { logits: Float64Array; selections: number[][][] } {
  const { batch, n, d, k, neuronsPerExpert: ms, l, logits: outputs, gate, pooling } = shape;
  const logits = new Float64Array(batch * outputs);
  const selections: number[][][] = [];
  const dot = (b: number, j: number, vector: (i: number) => number) => {
    let sum = 0;
    for (let i = 0; i < d; i++) sum += patches[(b * n + j) * d + i] * vector(i);
    return sum;
  };
  for (let b = 0; b < batch; b++) {
    const perExpert: number[][] = [];
    for (let s = 0; s < k; s++) {
      const scores = Array.from({ length: n }, (_, j) => dot(b, j, (i) => weights.routers[i * k + s]));
      const chosen = topIndices(scores, l);
      perExpert.push(chosen);
      let gates: number[];
      if (gate === 'hard') gates = chosen.map(() => 1);
      else if (gate === 'softmax-selected') {
        const exps = chosen.map((j) => Math.exp(scores[j]));
        const total = exps.reduce((a, v) => a + v, 0);
        gates = exps.map((e) => e / total);
      } else {
        const total = scores.reduce((a, v) => a + Math.exp(v), 0);
        gates = chosen.map((j) => Math.exp(scores[j]) / total);
      }
      const scale = 1 / (pooling === 'selected' ? l : n);
      for (let r = 0; r < ms; r++) {
        let pooled = 0;
        chosen.forEach((j, t) => {
          pooled +=
            Math.max(
              0,
              dot(b, j, (i) => weights.experts[s][i * ms + r]),
            ) * gates[t];
        });
        for (let o = 0; o < outputs; o++) logits[b * outputs + o] += weights.output[(s * ms + r) * outputs + o] * pooled * scale;
      }
    }
    selections.push(perExpert);
  }
  return { logits, selections };
}
