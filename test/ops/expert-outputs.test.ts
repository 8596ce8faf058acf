import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engine/backend.js';
import { EXPERT_OUTPUTS, expertOutputs } from '../../src/ops/expert-outputs.js';
import { gemmThreads, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng, gaussian } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

interface Shape {
  name: string;
  /** R rows of x, C channels, k experts, M rows each, f filters. */
  rowCount: number;
  channels: number;
  experts: number;
  perExpert: number;
  filters: number;
  bias: boolean;
}

/** M distinct rows per expert (a shuffled prefix), so experts overlap as routers' choices do. */
function expertRows(rng: Rng, shape: Shape): Int32Array {
  const rows = new Int32Array(shape.experts * shape.perExpert);
  for (let s = 0; s < shape.experts; s++) {
    const order = Array.from({ length: shape.rowCount }, (_, i) => i);
    for (let i = 0; i < shape.perExpert; i++) {
      const j = i + rng.int(shape.rowCount - i);
      [order[i], order[j]] = [order[j], order[i]];
      rows[s * shape.perExpert + i] = order[i];
    }
  }
  return rows;
}

/** The output and the gradients of sum(out * probe) w.r.t. x, gates, kernels and biases. */
function valueAndGradients(shape: Shape, values: Record<string, Float64Array>, rows: Int32Array) {
  const { rowCount, channels, experts, perExpert, filters } = shape;
  return tf.tidy(() => {
    const x = tf.tensor2d(Float32Array.from(values.x), [rowCount, channels]);
    const gates = tf.tensor2d(Float32Array.from(values.gates), [experts, perExpert]);
    const kernels = Array.from({ length: experts }, (_, s) =>
      tf.tensor2d(Float32Array.from(values.kernels.subarray(s * channels * filters, (s + 1) * channels * filters)), [channels, filters]),
    );
    const biases = shape.bias
      ? Array.from({ length: experts }, (_, s) => tf.tensor1d(Float32Array.from(values.biases.subarray(s * filters, (s + 1) * filters))))
      : [];
    const probe = tf.tensor2d(Float32Array.from(values.probe), [rowCount, experts * filters]);
    const apply = (...args: tf.Tensor[]) => {
      const [xArg, gatesArg, ...rest] = args;
      return expertOutputs(xArg as tf.Tensor2D, rows, gatesArg as tf.Tensor2D, rest.slice(0, experts) as tf.Tensor2D[], rest.slice(experts) as tf.Tensor1D[]);
    };
    const watched = [x, gates, ...kernels, ...biases];
    const output = apply(...watched);
    const grads = tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(apply(...args), probe)))(watched);
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      output: read(output).slice(),
      dx: read(grads[0]).slice(),
      dgates: read(grads[1]).slice(),
      dkernels: Float32Array.from(grads.slice(2, 2 + experts).flatMap((g) => Array.from(read(g)))),
      dbiases: Float32Array.from(grads.slice(2 + experts).flatMap((g) => Array.from(read(g)))),
    };
  });
}

describe('expertOutputs (k gated 1x1 experts written to their rows, one op on wasm)', () => {
  const shapes: Shape[] = [
    { name: 'bench case e (two threads)', rowCount: 2048, channels: 640, experts: 4, perExpert: 512, filters: 160, bias: true },
    { name: 'WRN-pMoE w = 1', rowCount: 2048, channels: 64, experts: 4, perExpert: 512, filters: 16, bias: true },
    { name: 'small, no bias, experts overlapping', rowCount: 12, channels: 8, experts: 3, perExpert: 8, filters: 4, bias: false },
    { name: 'sizes the kernel does not take (plain path)', rowCount: 9, channels: 6, experts: 2, perExpert: 3, filters: 5, bias: true },
  ];
  for (const shape of shapes) {
    for (const threads of [true, false]) {
      test(`${shape.name}, ${threads ? 'two threads where large' : 'one thread'}: forward and gradients equal the plain formulation on cpu`, async (t) => {
        const rng = freshRng(`expert-outputs-${shape.name}`);
        const { rowCount, channels, experts, perExpert, filters } = shape;
        const values = {
          x: gaussian(rng, rowCount * channels),
          gates: Float64Array.from({ length: experts * perExpert }, () => rng.next()),
          kernels: gaussian(rng, experts * channels * filters, 1 / Math.sqrt(channels)),
          biases: gaussian(rng, experts * filters),
          probe: gaussian(rng, rowCount * experts * filters),
        };
        const rows = expertRows(rng, shape);
        await initEngine('cpu');
        const reference = valueAndGradients(shape, values, rows);
        await initEngine('wasm');
        setGemmThreads(threads);
        try {
          if (threads && gemmThreads() === null) return t.skip('the two-thread products need two cores and worker threads');
          const before = tf.memory().numTensors;
          const fast = valueAndGradients(shape, values, rows);
          assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
          const takesFastPath = perExpert % 4 === 0 && channels % 4 === 0 && filters % 4 === 0;
          const profile = await tf.profile(() =>
            tf.tidy(() =>
              expertOutputs(
                tf.zeros([rowCount, channels]),
                rows,
                tf.zeros([experts, perExpert]),
                Array.from({ length: experts }, () => tf.zeros([channels, filters]) as tf.Tensor2D),
              ),
            ),
          );
          assert.equal(profile.kernelNames.includes(EXPERT_OUTPUTS), takesFastPath, `kernels run: ${profile.kernelNames.join(', ')}`);
          for (const key of ['output', 'dx', 'dgates', 'dkernels', 'dbiases'] as const) {
            const error = relativeError(fast[key], reference[key]);
            assert.ok(error < 1e-5, `${key}: relative error ${error}`);
          }
          // Zeros wherever an expert took nothing.
          const taken = new Set(Array.from(rows.subarray(0, perExpert)));
          for (let r = 0; r < rowCount; r++) if (!taken.has(r)) assert.equal(fast.output[r * experts * filters], 0, `row ${r}, expert 0`);
        } finally {
          setGemmThreads(true);
        }
      });
    }
  }

  test('bad rows and shapes are refused, naming what was wrong, and leak nothing', async () => {
    await initEngine('wasm');
    const x = tf.zeros([8, 4]) as tf.Tensor2D;
    const kernels = [tf.zeros([4, 4]) as tf.Tensor2D, tf.zeros([4, 4]) as tf.Tensor2D];
    const gates = tf.zeros([2, 4]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    assert.throws(() => expertOutputs(x, Int32Array.from([0, 1, 2, 1, 4, 5, 6, 7]), gates, kernels), /expert 0 lists row 1 twice/);
    assert.throws(
      () => expertOutputs(x, Int32Array.from([0, 1, 2, 3, 4, 5, 6, 8]), gates, kernels),
      /rows\[7\] = 8 is out of range; allowed row indices are 0\.\.7/,
    );
    assert.throws(() => expertOutputs(x, Int32Array.from([0, 1, 2, 3, 4, 5, 6]), gates, kernels), /7 rows for 2 experts/);
    assert.throws(
      () => expertOutputs(x, Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), tf.zeros([4, 2]) as tf.Tensor2D, kernels),
      /gates must be \[2, 4\], got \[4,2\]/,
    );
    assert.equal(tf.memory().numTensors, before + 1, 'only the gates made for the last call');
    tf.dispose([x, gates, ...kernels]);
  });
});
