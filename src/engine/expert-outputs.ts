import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { checkRange, gatherRows, scatterAddRowsOp } from './gather-rows.js';
import { heapKernels } from './heap-kernels.js';
import { rowsProductT, simdMatMul, THREADED_MIN_COLUMNS, THREADED_MIN_FLOPS } from './rows-product.js';
import { float32View, int32View, inWorkspace } from './workspace.js';

/**
 * expertOutputs: the k experts of a PatchMoE with 1x1 kernels, each applied to the rows of x its
 * router chose, scaled by their gates and written to those same rows of the output in the
 * expert's own f channels; zeros where an expert took nothing:
 *   out[rows[s M + i], s f .. s f + f) = gates[s, i] (x[rows[s M + i]] W_s + b_s)
 * Symbols of the paper: k experts (s), M = batch * l (times the pixels of a patch) rows each.
 *
 * Why one op: the plain formulation (one product per expert, stack, gate multiply, a zero row, a
 * placement gather) made five passes over outputs four times the size of what the experts
 * computed, and copied x's chosen rows into the two-thread arena once per expert. Here the rows
 * are copied once, the bias is added by the product, and gating and placement are one pass.
 * The gradient is hand-derived (below) and tested against the plain formulation.
 */
export const EXPERT_OUTPUTS = 'PmoeExpertOutputs';

const FLOAT_BYTES = 4;

type TensorInfo = tf.TensorInfo;

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: {};
  attrs?: tf.NamedAttrMap;
}

/** Inputs in the kernel's order: x, rows, gates, the k kernels, then the k biases (if any). */
function unpack<T>(inputs: T[], experts: number) {
  const [x, rows, gates] = inputs;
  return { x, rows, gates, kernels: inputs.slice(3, 3 + experts), biases: inputs.slice(3 + experts, 3 + 2 * experts) };
}

/** Each expert's rows must be distinct: two writes to one output place would make the gradient ambiguous. */
function checkDistinct(rows: Int32Array, experts: number, rowCount: number): void {
  const perExpert = rows.length / experts;
  const seen = new Int32Array(rowCount).fill(-1);
  for (let s = 0; s < experts; s++) {
    for (let i = 0; i < perExpert; i++) {
      const r = rows[s * perExpert + i];
      if (seen[r] === s) throw new Error(`expertOutputs: expert ${s} lists row ${r} twice; each expert's rows must be distinct`);
      seen[r] = s;
    }
  }
}

function expertOutputsWasm(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const experts = (args.attrs as { experts: number }).experts;
  const { x, rows, gates, kernels, biases } = unpack(args.inputs as unknown as TensorInfo[], experts);
  const [rowCount, channels] = x.shape;
  const filters = kernels[0].shape[1];
  const total = rows.shape[0];
  const perExpert = total / experts;
  const rowValues = backend.typedArrayFromHeap(rows) as Int32Array;
  checkRange(EXPERT_OUTPUTS, rowValues, rowCount);
  const z = inWorkspace(
    backend,
    (work) => {
      const weights = kernels.map((w) => work.input(w));
      let shift = biases.map((b) => work.input(b));
      if (shift.length === 0) {
        const zeros = work.alloc(filters);
        float32View(work).fill(0, zeros / FLOAT_BYTES, zeros / FLOAT_BYTES + filters);
        shift = kernels.map(() => zeros);
      }
      const out = work.output([total, filters]);
      // x's chosen rows, then the rows of z they produce.
      const table = work.alloc(2 * total);
      const at = table / FLOAT_BYTES;
      work.rowsOf(x, channels, backend.typedArrayFromHeap(rows) as Int32Array, at);
      const ints = int32View(work);
      for (let i = 0; i < total; i++) ints[at + total + i] = out + i * filters * FLOAT_BYTES;
      for (let s = 0; s < experts; s++) {
        const first = s * perExpert * FLOAT_BYTES;
        work.gemmSeg(perExpert, filters, channels, 1, table + first, perExpert, weights[s], table + total * FLOAT_BYTES + first, shift[s]);
      }
    },
    2 * total * channels * filters >= THREADED_MIN_FLOPS && filters >= THREADED_MIN_COLUMNS,
  );
  if (z === null) throw new Error(`${EXPERT_OUTPUTS}: the SIMD kernels are not available on this wasm backend`);
  // Gated rows to their places, on the heap: zeros, then row i of z times gate i at row rows[i], expert i / M's channels.
  const width = experts * filters;
  const output = backend.makeOutput([rowCount, width], 'float32');
  const places = backend.makeOutput([total], 'int32');
  const outAt = backend.getMemoryOffset(output.dataId);
  const placesAt = backend.getMemoryOffset(places.dataId);
  // Views after the last allocation.
  (backend.typedArrayFromHeap(output) as Float32Array).fill(0);
  const placeValues = backend.typedArrayFromHeap(places) as Int32Array;
  const rowValuesNow = backend.typedArrayFromHeap(rows) as Int32Array;
  for (let i = 0; i < total; i++) placeValues[i] = outAt + (rowValuesNow[i] * width + Math.floor(i / perExpert) * filters) * FLOAT_BYTES;
  heapKernels(backend)!.scaleRows(total, filters, backend.getMemoryOffset(z.dataId), placesAt, backend.getMemoryOffset(gates.dataId));
  backend.disposeData(places.dataId);
  return [output, z];
}

/**
 * With Z_s the experts' ungated outputs (saved by the forward) and dY_s = dOut at their places:
 *   dgates_s = rowwise <dY_s, Z_s>,  dZ_s = gates_s dY_s,
 *   dW_s = x[rows_s]^T dZ_s,  db_s = column sums of dZ_s,  dx = sum over s of dZ_s W_s^T into rows_s.
 */
const expertOutputsGradConfig: tf.GradConfig = {
  kernelName: EXPERT_OUTPUTS,
  saveAllInputs: true,
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs) => {
    const experts = (attrs as unknown as { experts: number }).experts;
    const dOut = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
    const z = saved[saved.length - 1] as tf.Tensor2D;
    const { x, rows, gates, kernels, biases } = unpack(saved.slice(0, -1), experts);
    const [rowCount, width] = dOut.shape;
    const [total, filters] = z.shape;
    const perExpert = total / experts;
    const rowValues = rows.dataSync() as Int32Array;
    // Row rows[s M + i] of dOut, channels of expert s: row rows[s M + i] k + s of dOut as [R k, f].
    const picks = new Int32Array(total);
    for (let i = 0; i < total; i++) picks[i] = rowValues[i] * experts + Math.floor(i / perExpert);
    const dY = gatherRows(tf.reshape(dOut, [rowCount * (width / filters), filters]), tf.tensor1d(picks, 'int32'));
    const dZ = tf.mul(dY, tf.reshape(gates, [total, 1]));
    const dZs = tf.split(dZ, experts) as tf.Tensor2D[];
    const expertRows = Array.from({ length: experts }, (_, s) => tf.tensor1d(rowValues.subarray(s * perExpert, (s + 1) * perExpert), 'int32'));
    const grads: Record<string, () => tf.Tensor> = {
      0: () => scatterAddRowsOp(tf.concat(dZs.map((d, s) => simdMatMul(d, tf.transpose(kernels[s] as tf.Tensor2D)))), rows, rowCount),
      1: () => tf.zeros(rows.shape), // integer data: see gather-rows.ts
      2: () => tf.reshape(tf.sum(tf.mul(dY, z), 1), gates.shape),
    };
    kernels.forEach((_, s) => (grads[3 + s] = () => rowsProductT(x as tf.Tensor2D, expertRows[s], dZs[s])));
    biases.forEach((_, s) => (grads[3 + experts + s] = () => tf.sum(dZs[s], 0)));
    return grads;
  },
};

/** Registers the wasm kernel and its gradient (initEngine does). Idempotent. */
export function registerExpertOutputs(): void {
  if (tf.getKernel(EXPERT_OUTPUTS, 'wasm') == null) tf.registerKernel({ kernelName: EXPERT_OUTPUTS, backendName: 'wasm', kernelFunc: expertOutputsWasm as unknown as tf.KernelFunc });
  if (tf.getGradient(EXPERT_OUTPUTS) !== expertOutputsGradConfig) tf.registerGradient(expertOutputsGradConfig);
}

/** The plain formulation: a product per expert, stacked, gated and gathered to the output places (a zero row elsewhere). */
function plainExpertOutputs(x: tf.Tensor2D, rows: Int32Array, gates: tf.Tensor2D, kernels: tf.Tensor2D[], biases: tf.Tensor1D[]): tf.Tensor2D {
  const experts = kernels.length;
  const perExpert = rows.length / experts;
  const [rowCount] = x.shape;
  const filters = kernels[0].shape[1];
  return tf.tidy(() => {
    const perExpertOutputs = kernels.map((w, s) => {
      const y = tf.matMul(gatherRows(x, tf.tensor1d(rows.subarray(s * perExpert, (s + 1) * perExpert), 'int32')), w);
      return biases[s] ? tf.add(y, biases[s]) : y;
    });
    const gated = tf.mul(tf.stack(perExpertOutputs), tf.reshape(gates, [experts, perExpert, 1]));
    const withZero = tf.concat([tf.reshape(gated, [rows.length, filters]), tf.zeros([1, filters])]) as tf.Tensor2D;
    const placement = new Int32Array(rowCount * experts).fill(rows.length);
    rows.forEach((r, i) => (placement[r * experts + Math.floor(i / perExpert)] = i));
    return tf.reshape(gatherRows(withZero, tf.tensor1d(placement, 'int32')), [rowCount, experts * filters]);
  });
}

/**
 * x [R, C]; rows [k M] int32, expert-major (expert s's M rows at s M .. s M + M - 1, distinct
 * within an expert, repeats across experts allowed); gates [k, M]; kernels k of [C, f]; biases
 * none or k of [f]. Returns [R, k f] (see EXPERT_OUTPUTS), differentiable in x, gates, kernels and
 * biases. On wasm through one SIMD op where M, C and f are multiples of 4, else the plain formulation.
 */
export function expertOutputs(x: tf.Tensor2D, rows: Int32Array, gates: tf.Tensor2D, kernels: tf.Tensor2D[], biases: tf.Tensor1D[] = []): tf.Tensor2D {
  const experts = kernels.length;
  const [channels] = kernels[0]?.shape ?? [];
  const perExpert = rows.length / Math.max(experts, 1);
  if (experts === 0 || !Number.isInteger(perExpert)) throw new Error(`expertOutputs: ${rows.length} rows for ${experts} experts; expected k M rows, expert by expert`);
  if (x.shape[1] !== channels) throw new Error(`expertOutputs: x has ${x.shape[1]} columns but the kernels have ${channels} rows`);
  if (gates.shape[0] !== experts || gates.shape[1] !== perExpert) throw new Error(`expertOutputs: gates must be [${experts}, ${perExpert}], got [${gates.shape}]`);
  if (biases.length !== 0 && biases.length !== experts) throw new Error(`expertOutputs: ${biases.length} biases for ${experts} experts`);
  checkRange('expertOutputs', rows, x.shape[0]);
  checkDistinct(rows, experts, x.shape[0]);
  const filters = kernels[0].shape[1];
  const fast =
    tf.getBackend() === 'wasm' &&
    tf.getKernel(EXPERT_OUTPUTS, 'wasm') != null &&
    heapKernels(tf.backend() as BackendWasm) !== null &&
    perExpert % 4 === 0 &&
    channels % 4 === 0 &&
    filters % 4 === 0;
  if (!fast) return plainExpertOutputs(x, rows, gates, kernels, biases);
  return tf.tidy(() => {
    const inputs = [x, tf.tensor1d(rows, 'int32'), gates, ...kernels, ...biases];
    const [output] = tf.engine().runKernel(EXPERT_OUTPUTS, inputs as unknown as tf.NamedTensorMap, { experts } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return output as tf.Tensor2D;
  });
}
