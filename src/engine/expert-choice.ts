import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { GATE_MODES, type GateMode } from '../routing/gate.js';
import { detach } from './detach.js';

/**
 * Expert-choice routing as one op: router scores in the layout the router's product writes them,
 * [batch * n, k] (row b n + j: patch j of image b, column s: expert s), give each expert's top l
 * patches per image (indices [batch, k, l], highest score first, ties to the lower patch index,
 * as tf.topk on cpu and wasm) and their gates [batch, k, l] (gate.ts). The gradient reaches the
 * scores through the gates (hand-derived, below).
 *
 * Why: route() on [batch, k, n] scores is a transpose, tf.topk, and five to seven ops for the
 * gates, each with its gradient: ~2 ms of a WRN-pMoE step and of case e's forward on wasm, for
 * a few thousand numbers that plain loops handle in well under 0.1 ms. route() stays the
 * reference (and the path on other backends); the tests compare the two.
 */
export const EXPERT_CHOICE = 'PmoeExpertChoice';
const EXPERT_CHOICE_GRAD = 'PmoeExpertChoiceGrad';

const BACKENDS = ['cpu', 'wasm'] as const;

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: {};
  attrs?: tf.NamedAttrMap;
}

interface Attrs {
  patches: number;
  patchesPerExpert: number;
  gate: GateMode;
}

const isWasm = (backend: {}): backend is BackendWasm => 'typedArrayFromHeap' in backend;

/** A tensor's values, without a copy (cpu: the stored array; wasm: a heap view). */
function values(backend: {}, info: tf.TensorInfo): Float32Array | Int32Array {
  if (isWasm(backend)) return backend.typedArrayFromHeap(info) as Float32Array | Int32Array;
  return (backend as MathBackendCPU).readSync(info.dataId) as Float32Array | Int32Array;
}

/** A new tensor of `shape` filled by `fill` (on wasm, written in place on the heap). */
function output<T extends Float32Array | Int32Array>(backend: {}, shape: number[], dtype: 'float32' | 'int32', fill: (out: T) => void): tf.TensorInfo {
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, dtype);
    fill(backend.typedArrayFromHeap(info) as T);
    return info;
  }
  const size = tf.util.sizeFromShape(shape);
  const out = (dtype === 'int32' ? new Int32Array(size) : new Float32Array(size)) as T;
  fill(out);
  return (backend as MathBackendCPU).makeTensorInfo(shape, dtype, out);
}

/** max over patch j of scores[(b n + j) k + s], and log sum exp(score - max). */
function logSumExp(scores: Float32Array, b: number, s: number, n: number, k: number): number {
  let peak = -Infinity;
  for (let j = 0; j < n; j++) peak = Math.max(peak, scores[(b * n + j) * k + s]);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(scores[(b * n + j) * k + s] - peak);
  return peak + Math.log(sum);
}

/**
 * The l largest of `column` into `top`, largest first, ties to the lower index: insertion into a
 * sorted list of l (TypedArray.sort with a comparator took ~20 us per row of 64 here).
 */
function topIndices(column: Float32Array, l: number, top: Int32Array): void {
  let size = 0;
  for (let j = 0; j < column.length; j++) {
    const value = column[j];
    // Later indices go after equal values: ties stay with the lower index.
    if (size === l && !(value > column[top[l - 1]])) continue;
    let at = size < l ? size++ : l - 1;
    while (at > 0 && value > column[top[at - 1]]) {
      top[at] = top[at - 1];
      at--;
    }
    top[at] = j;
  }
}

function expertChoiceKernel(args: KernelArgs): tf.TensorInfo[] {
  const { scores } = args.inputs as { scores: tf.TensorInfo };
  const { patches: n, patchesPerExpert: l, gate } = args.attrs as unknown as Attrs;
  const [rows, k] = scores.shape;
  const batch = rows / n;
  const column = new Float32Array(n);
  const order = new Int32Array(l);
  const chosen = new Int32Array(batch * k * l);
  const weights = new Float32Array(batch * k * l);
  const values32 = values(args.backend, scores) as Float32Array;
  const score = (b: number, s: number, j: number) => values32[(b * n + j) * k + s];
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < k; s++) {
      for (let j = 0; j < n; j++) column[j] = score(b, s, j);
      topIndices(column, l, order);
      const at = (b * k + s) * l;
      chosen.set(order, at);
      if (gate === 'hard') {
        weights.fill(1, at, at + l);
      } else {
        // softmax-selected: over the l chosen; softmax-all: over all n, read at the chosen.
        let shift: number;
        let total = 1;
        if (gate === 'softmax-all') {
          shift = logSumExp(values32, b, s, n, k);
        } else {
          shift = score(b, s, order[0]);
          total = 0;
          for (let t = 0; t < l; t++) total += Math.exp(score(b, s, order[t]) - shift);
        }
        for (let t = 0; t < l; t++) weights[at + t] = Math.exp(score(b, s, order[t]) - shift) / total;
      }
    }
  }
  return [
    output<Int32Array>(args.backend, [batch, k, l], 'int32', (out) => out.set(chosen)),
    output<Float32Array>(args.backend, [batch, k, l], 'float32', (out) => out.set(weights)),
  ];
}

/**
 * dScores from dGates, per image b and expert s, with g the gates of the chosen patches:
 * - softmax-selected: d score[chosen t] = g_t (dg_t - sum_u dg_u g_u), zero elsewhere;
 * - softmax-all: d score[j] = -softmax_j sum_u dg_u g_u, plus dg_t g_t at chosen t;
 * - hard: zero.
 */
function expertChoiceGradKernel(args: KernelArgs): tf.TensorInfo {
  const { scores, indices, gates, dGates } = args.inputs as Record<string, tf.TensorInfo>;
  const { patches: n, patchesPerExpert: l, gate } = args.attrs as unknown as Attrs;
  const [rows, k] = scores.shape;
  const batch = rows / n;
  const grad = new Float32Array(rows * k);
  if (gate !== 'hard') {
    const [scoreValues, chosen, g, dg] = [scores, indices, gates, dGates].map((t) => values(args.backend, t));
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        const at = (b * k + s) * l;
        let weighted = 0;
        for (let t = 0; t < l; t++) weighted += dg[at + t] * g[at + t];
        if (gate === 'softmax-all') {
          const lse = logSumExp(scoreValues as Float32Array, b, s, n, k);
          for (let j = 0; j < n; j++) grad[(b * n + j) * k + s] = -Math.exp(scoreValues[(b * n + j) * k + s] - lse) * weighted;
          for (let t = 0; t < l; t++) grad[(b * n + chosen[at + t]) * k + s] += dg[at + t] * g[at + t];
        } else {
          for (let t = 0; t < l; t++) grad[(b * n + chosen[at + t]) * k + s] = g[at + t] * (dg[at + t] - weighted);
        }
      }
    }
  }
  return output<Float32Array>(args.backend, [rows, k], 'float32', (out) => out.set(grad));
}

const expertChoiceGradConfig: tf.GradConfig = {
  kernelName: EXPERT_CHOICE,
  inputsToSave: ['scores'],
  outputsToSave: [true, true],
  gradFunc: (dy, saved, attrs) => {
    const [scores, indices, gates] = saved;
    // One dy per output; the indices carry none.
    const dGates = (Array.isArray(dy) ? dy[1] : dy) ?? tf.zerosLike(gates);
    return { scores: () => tf.engine().runKernel(EXPERT_CHOICE_GRAD, { scores, indices, gates, dGates }, attrs) as tf.Tensor };
  },
};

/** Registers the kernels on cpu and wasm and the gradient (initEngine does). Idempotent. */
export function registerExpertChoice(): void {
  for (const backendName of BACKENDS) {
    for (const [kernelName, kernelFunc] of [
      [EXPERT_CHOICE, expertChoiceKernel],
      [EXPERT_CHOICE_GRAD, expertChoiceGradKernel],
    ] as const) {
      if (tf.getKernel(kernelName, backendName) == null) tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    }
  }
  if (tf.getGradient(EXPERT_CHOICE) !== expertChoiceGradConfig) tf.registerGradient(expertChoiceGradConfig);
}

/** Whether expertChoice runs as its own op here (cpu and wasm), rather than through route(). */
export function expertChoiceAvailable(): boolean {
  const backend = tf.getBackend();
  return (BACKENDS as readonly string[]).includes(backend) && tf.getKernel(EXPERT_CHOICE, backend) != null;
}

/**
 * scores [batch * n, k] (row b n + j, column s) -> each expert's top l patches per image and their
 * gates, both [batch, k, l]; differentiable w.r.t. the scores through the gates. Equal to
 * route(transpose(reshape(scores, [batch, n, k])), l, gate) up to float rounding.
 */
export function expertChoice(scores: tf.Tensor2D, patches: number, patchesPerExpert: number, gate: GateMode): { indices: tf.Tensor3D; gates: tf.Tensor3D } {
  const [rows, k] = scores.shape;
  if (!Number.isInteger(patches) || patches < 1 || rows % patches !== 0) {
    throw new Error(`expertChoice: ${rows} score rows are not whole images of ${patches} patches`);
  }
  if (!Number.isInteger(patchesPerExpert) || patchesPerExpert < 1 || patchesPerExpert > patches) {
    throw new RangeError(`expertChoice: patchesPerExpert must be an integer in 1..${patches} (l <= n); got ${patchesPerExpert}`);
  }
  if (!GATE_MODES.includes(gate)) throw new Error(`expertChoice: gate must be one of ${GATE_MODES.join(', ')}; got ${String(gate)}`);
  if (scores.dtype !== 'float32' || k < 1) throw new Error(`expertChoice: scores must be float32 [batch * n, k], got ${scores.dtype} [${scores.shape}]`);
  const attrs: Attrs = { patches, patchesPerExpert, gate };
  return tf.tidy(() => {
    const [indices, gates] = tf.engine().runKernel(EXPERT_CHOICE, { scores }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    // Integers off the tape, as route() leaves them.
    return { indices: detach(indices) as tf.Tensor3D, gates: gates as tf.Tensor3D };
  });
}
