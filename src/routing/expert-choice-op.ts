import * as tf from '@tensorflow/tfjs-core';
import { GATE_MODES, type GateMode } from './gate.js';
import { gateGradient, topL, writeGates, type ScoreColumn, type Selection } from './expert-choice-core.js';
import { detach } from '../ops/detach.js';
import { output, values, type KernelArgs } from '../ops/kernel-io.js';

/**
 * Expert-choice routing as one op: router scores in the layout the router's product writes them,
 * [batch * n, k] (row b n + j: patch j of image b, column s: expert s), give each expert's top l
 * patches per image (indices [batch, k, l], highest score first, ties to the lower patch index,
 * as tf.topk on cpu and wasm) and their gates [batch, k, l] (gate.ts). The gradient reaches the
 * scores through the gates. The arithmetic is src/routing/expert-choice-core.ts's.
 *
 * Why: route() on [batch, k, n] scores is a transpose, tf.topk, and five to seven ops for the
 * gates, each with its gradient and the engine's cost per op, for a few thousand numbers that
 * plain loops handle in a fraction of that. route() stays the
 * reference (and the path on other backends); the tests compare the two.
 */
export const EXPERT_CHOICE = 'PmoeExpertChoice';
const EXPERT_CHOICE_GRAD = 'PmoeExpertChoiceGrad';

const BACKENDS = ['cpu', 'wasm'] as const;

interface Attrs {
  patches: number;
  patchesPerExpert: number;
  gate: GateMode;
}

function expertChoiceKernel(args: KernelArgs): tf.TensorInfo[] {
  const { scores } = args.inputs as { scores: tf.TensorInfo };
  const { patches: n, patchesPerExpert: l, gate } = args.attrs as unknown as Attrs;
  const [rows, k] = scores.shape;
  const batch = rows / n;
  const selection: Selection = { chosen: new Int32Array(batch * k * l), gates: new Float32Array(batch * k * l), at: 0, l };
  const column: ScoreColumn = { values: values(args.backend, scores) as Float32Array, base: 0, step: k, n };
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < k; s++) {
      column.base = b * n * k + s;
      selection.at = (b * k + s) * l;
      topL(column, selection);
      writeGates(gate, column, selection);
    }
  }
  return [
    output<Int32Array>(args.backend, [batch, k, l], 'int32', (out) => out.set(selection.chosen)),
    output<Float32Array>(args.backend, [batch, k, l], 'float32', (out) => out.set(selection.gates)),
  ];
}

/** dScores from dGates, column by column (gateGradient). */
function expertChoiceGradKernel(args: KernelArgs): tf.TensorInfo {
  const { scores, indices, gates, dGates } = args.inputs as Record<string, tf.TensorInfo>;
  const { patches: n, patchesPerExpert: l, gate } = args.attrs as unknown as Attrs;
  const [rows, k] = scores.shape;
  const batch = rows / n;
  const grad = new Float32Array(rows * k);
  if (gate !== 'hard') {
    const [scoreValues, chosen, g, dg] = [scores, indices, gates, dGates].map((t) => values(args.backend, t));
    const column: ScoreColumn = { values: scoreValues as Float32Array, base: 0, step: k, n };
    const selection: Selection = { chosen: chosen as Int32Array, gates: g as Float32Array, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * k + s;
        selection.at = (b * k + s) * l;
        gateGradient(gate, column, selection, dg as Float32Array, grad);
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

/** Registers the kernels on cpu and wasm and the gradient (expertChoice does, on first use). Idempotent. */
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
  return (BACKENDS as readonly string[]).includes(backend);
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
  registerExpertChoice();
  return tf.tidy(() => {
    const [indices, gates] = tf.engine().runKernel(EXPERT_CHOICE, { scores }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    // Integers off the tape, as route() leaves them.
    return { indices: detach(indices) as tf.Tensor3D, gates: gates as tf.Tensor3D };
  });
}
