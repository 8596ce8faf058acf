import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { checkRange, gatherRows, placeRows, scatterAddRowsOp } from './gather-rows.js';
import { heapKernels } from '../kernels/heap-kernels.js';
import { rowsProductT, simdMatMul, THREADED_MIN_COLUMNS, THREADED_MIN_FLOPS } from './rows-product.js';
import { ArenaFullError, gemmThreads, type GemmThreads } from '../kernels/gemm-threads.js';
import { float32View, int32View, inWorkspace, spareRows } from '../kernels/workspace.js';
import type { KernelArgs } from './kernel-io.js';

/**
 * expertOutputs: the k experts of a PatchMoE with 1x1 kernels, each applied to the rows of x its
 * router chose, scaled by their gates and written to those same rows of the output in the
 * expert's own f channels; zeros where an expert took nothing:
 *   out[rows[s M + i], s f .. s f + f) = gates[s, i] (x[rows[s M + i]] W_s + b_s)
 * Symbols of the paper: k experts (s), M = batch * l (times the pixels of a patch) rows each.
 *
 * Why one op: the plain formulation (one product per expert, stack, gate multiply, a scatter to
 * the output rows) made five passes over outputs four times the size of what the experts
 * computed, and copied x's chosen rows into the two-thread arena once per expert. Here the rows
 * are copied once, the bias is added by the product, and gating and placement are one pass.
 * The gradient is hand-derived (below) and tested against the plain formulation.
 */
export const EXPERT_OUTPUTS = 'PmoeExpertOutputs';

const FLOAT_BYTES = 4;

type TensorInfo = tf.TensorInfo;

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
  checkRange(EXPERT_OUTPUTS, backend.typedArrayFromHeap(rows), rowCount);
  const heap = heapKernels(backend);
  if (heap === null) throw new Error(`${EXPERT_OUTPUTS}: the SIMD kernels are not available on this wasm backend`);
  const threads = 2 * total * channels * filters >= THREADED_MIN_FLOPS && filters >= THREADED_MIN_COLUMNS ? gemmThreads() : null;
  // Rows of each expert computed here, in place on the heap; the rest on the worker thread.
  const here = threads === null ? perExpert : rowsHere(perExpert, channels, filters);
  const width = experts * filters;
  const slices = rowCount * experts;
  let output: TensorInfo | undefined;
  try {
    // z, the experts' ungated outputs (the gradient's), is the workspace's result; on the heap.
    const z = inWorkspace(
      backend,
      (work) => {
        const zAt = work.output([total, filters]);
        const weights = kernels.map((w) => work.aligned(w));
        // A zero bias, and the zero row for output slices no expert wrote.
        const { zero } = spareRows(work, filters);
        // x's chosen rows, then the rows of z they produce.
        const table = work.alloc(2 * total);
        // Per output slice (row r, expert s): the row it takes, where it goes, its gate.
        const placing = work.alloc(3 * slices);
        output = backend.makeOutput([rowCount, width], 'float32');
        const outAt = backend.getMemoryOffset(output.dataId);
        // Views after the last allocation.
        const rowValues = backend.typedArrayFromHeap(rows) as Int32Array;
        work.rowsOf(x, channels, rowValues, table / 4);
        const ints = int32View(work);
        for (let i = 0; i < total; i++) ints[table / 4 + total + i] = zAt + i * filters * FLOAT_BYTES;
        const products = (s: number, count = here) => {
          const first = table + s * perExpert * FLOAT_BYTES;
          work.gemmSeg(count, filters, channels, 1, first, perExpert, weights[s], first + total * FLOAT_BYTES, biases[s] ? work.input(biases[s]) : zero);
        };
        let split = here < perExpert;
        if (split) {
          try {
            onWorker(backend, threads!, { x, rowValues, kernels, biases, here, filters, z: { memory: work.memory, at: zAt }, products });
          } catch (error) {
            if (!(error instanceof ArenaFullError)) throw error; // the operands did not fit the arena: all on the heap
            split = false;
          }
        }
        if (!split) for (let s = 0; s < experts; s++) products(s, perExpert);
        // Gated rows to their places, in one pass over the output: for row r and expert s, gate
        // times z's row where s took r, else zero times the zero row.
        const floats = float32View(work);
        const gateValues = backend.typedArrayFromHeap(gates) as Float32Array;
        const [sources, targets, scales] = [placing / 4, placing / 4 + slices, placing / 4 + 2 * slices];
        ints.fill(zero, sources, sources + slices);
        floats.fill(0, scales, scales + slices);
        for (let i = 0; i < slices; i++) ints[targets + i] = outAt + i * filters * FLOAT_BYTES;
        for (let i = 0; i < total; i++) {
          const slice = rowValues[i] * experts + Math.floor(i / perExpert);
          ints[sources + slice] = zAt + i * filters * FLOAT_BYTES;
          floats[scales + slice] = gateValues[i];
        }
        heap.scaleRows(slices, filters, placing, placing + slices * FLOAT_BYTES, placing + 2 * slices * FLOAT_BYTES);
      },
      false,
    )!;
    return [output!, z];
  } catch (error) {
    if (output !== undefined) backend.disposeData(output.dataId);
    throw error;
  }
}

/** A rough cost model for the split below: a product's rate on one thread, and a copy's into the shared arena. */
const FLOPS_PER_MS = 20e6;
const COPY_BYTES_PER_MS = 2.5e6;

/**
 * This thread's share of an expert's M rows: it also copies the next expert's worker rows while
 * the worker computes, so it takes fewer rows. With p and c a row's product and copy times, both
 * finish together when c (M - h) + p h = p (M - h).
 */
function rowsHere(perExpert: number, channels: number, filters: number): number {
  const product = (2 * channels * filters) / FLOPS_PER_MS;
  const copy = (4 * channels) / COPY_BYTES_PER_MS;
  const there = (product * perExpert) / (2 * product - copy);
  return Math.min(perExpert, Math.max(0, 4 * Math.round((perExpert - there) / 4)));
}

/**
 * Each expert's rows past `here` on the worker thread, while this thread runs `products(s)`, its
 * own rows in place: only the worker's rows of x and of z are copied (into the arena and back;
 * copies into shared memory are slower than on the heap), each expert's while
 * the worker runs the expert before, and the weights once per tensor (keptCopy).
 */
function onWorker(
  backend: BackendWasm,
  threads: GemmThreads,
  job: {
    x: TensorInfo;
    rowValues: Int32Array;
    kernels: TensorInfo[];
    biases: TensorInfo[];
    here: number;
    filters: number;
    z: { memory: WebAssembly.Memory; at: number };
    products: (s: number) => void;
  },
): void {
  const { x, rowValues, kernels, biases, here, filters, z, products } = job;
  const experts = kernels.length;
  const perExpert = rowValues.length / experts;
  const there = perExpert - here;
  const channels = x.shape[1];
  try {
    // Every region first (allocating can grow, and so replace, the arena's buffer), then the copies.
    // The kernels and biases are kept between calls (copied again only when they change).
    const keep = (t: TensorInfo) => threads.keptCopy(t.dataId, backend.typedArrayFromHeap(t) as Float32Array);
    const weights = kernels.map(keep);
    const shifts = biases.length > 0 ? biases.map(keep) : kernels.map(() => threads.alloc(filters));
    const inputs = threads.alloc(experts * there * channels);
    const out = threads.alloc(experts * there * filters);
    const table = threads.alloc(2 * experts * there);
    const [floats, ints] = [threads.floats(), threads.ints()];
    const xValues = backend.typedArrayFromHeap(x) as Float32Array;
    if (biases.length === 0) for (const shift of shifts) floats.fill(0, shift / FLOAT_BYTES, shift / FLOAT_BYTES + filters);
    // Expert s's rows for the worker (copied while the worker runs expert s - 1).
    const prepare = (s: number) => {
      for (let i = here, j = s * there; i < perExpert; i++, j++) {
        const r = rowValues[s * perExpert + i];
        floats.set(xValues.subarray(r * channels, (r + 1) * channels), inputs / FLOAT_BYTES + j * channels);
        ints[table / 4 + j] = inputs + j * channels * FLOAT_BYTES;
        ints[table / 4 + experts * there + j] = out + j * filters * FLOAT_BYTES;
      }
    };
    prepare(0);
    for (let s = 0; s < experts; s++) {
      const first = table + s * there * FLOAT_BYTES;
      threads.split('gemmSeg', [there, filters, channels, 1, first, there, weights[s], first + experts * there * FLOAT_BYTES, shifts[s]], () => {
        if (s + 1 < experts) prepare(s + 1);
        products(s);
      });
    }
    const [zValues, results] = [new Float32Array(z.memory.buffer), threads.floats()];
    for (let s = 0; s < experts; s++) {
      const from = out / FLOAT_BYTES + s * there * filters;
      zValues.set(results.subarray(from, from + there * filters), z.at / FLOAT_BYTES + (s * perExpert + here) * filters);
    }
  } finally {
    threads.reset();
  }
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
  if (tf.getKernel(EXPERT_OUTPUTS, 'wasm') == null)
    tf.registerKernel({ kernelName: EXPERT_OUTPUTS, backendName: 'wasm', kernelFunc: expertOutputsWasm as unknown as tf.KernelFunc });
  if (tf.getGradient(EXPERT_OUTPUTS) !== expertOutputsGradConfig) tf.registerGradient(expertOutputsGradConfig);
}

/**
 * Where each expert-major output row goes among the [R k] placed rows: expert s's row i, which
 * read row expertRows[s][i], goes to expertRows[s][i] k + s (channels of expert s of that row).
 */
export function expertTargets(expertRows: tf.Tensor1D[]): tf.Tensor1D {
  const k = expertRows.length;
  return tf.tidy(() => tf.concat(expertRows.map((rows, s) => tf.add(tf.mul(rows, tf.scalar(k, 'int32')), tf.scalar(s, 'int32')))) as tf.Tensor1D);
}

/**
 * The plain formulation, on row lists held as tensors: a product per expert on its rows
 * (`expertRows[s]`, M each), stacked, gated, and placed at their rows (expertTargets).
 */
export function plainExpertOutputs(
  x: tf.Tensor2D,
  expertRows: tf.Tensor1D[],
  gates: tf.Tensor2D,
  kernels: tf.Tensor2D[],
  biases: tf.Tensor1D[] = [],
): tf.Tensor2D {
  const experts = kernels.length;
  const perExpert = expertRows[0].shape[0];
  const [rowCount] = x.shape;
  const filters = kernels[0].shape[1];
  return tf.tidy(() => {
    const perExpertOutputs = kernels.map((w, s) => {
      const y = tf.matMul(gatherRows(x, expertRows[s]), w);
      return biases[s] ? tf.add(y, biases[s]) : y;
    });
    const gated = tf.mul(tf.stack(perExpertOutputs), tf.reshape(gates, [experts, perExpert, 1]));
    const placed = placeRows(tf.reshape(gated, [experts * perExpert, filters]) as tf.Tensor2D, expertTargets(expertRows), rowCount * experts);
    return tf.reshape(placed, [rowCount, experts * filters]);
  });
}

function plainExpertOutputsOnHost(x: tf.Tensor2D, rows: Int32Array, gates: tf.Tensor2D, kernels: tf.Tensor2D[], biases: tf.Tensor1D[]): tf.Tensor2D {
  const perExpert = rows.length / kernels.length;
  return tf.tidy(() => {
    const expertRows = kernels.map((_, s) => tf.tensor1d(rows.subarray(s * perExpert, (s + 1) * perExpert), 'int32'));
    return plainExpertOutputs(x, expertRows, gates, kernels, biases);
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
  if (experts === 0 || !Number.isInteger(perExpert))
    throw new Error(`expertOutputs: ${rows.length} rows for ${experts} experts; expected k M rows, expert by expert`);
  if (x.shape[1] !== channels) throw new Error(`expertOutputs: x has ${x.shape[1]} columns but the kernels have ${channels} rows`);
  if (gates.shape[0] !== experts || gates.shape[1] !== perExpert)
    throw new Error(`expertOutputs: gates must be [${experts}, ${perExpert}], got [${gates.shape}]`);
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
  if (!fast) return plainExpertOutputsOnHost(x, rows, gates, kernels, biases);
  return tf.tidy(() => {
    const inputs = [x, tf.tensor1d(rows, 'int32'), gates, ...kernels, ...biases];
    const [output] = tf.engine().runKernel(EXPERT_OUTPUTS, inputs as unknown as tf.NamedTensorMap, { experts } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return output as tf.Tensor2D;
  });
}
