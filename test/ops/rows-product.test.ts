import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engine/backend.js';
import { gatherRows } from '../../src/ops/gather-rows.js';
import { ROWS_PRODUCT, rowsProduct, simdMatMul } from '../../src/ops/rows-product.js';
import { freshRng, gaussian } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/** Forward and gradients w.r.t. x and w of sum(rowsProduct(x, rows, w) * probe), as plain arrays. */
function valueAndGradients(
  product: typeof rowsProduct,
  x: Float64Array,
  rows: number[],
  w: Float64Array,
  probe: Float64Array,
  shape: { r: number; k: number; n: number },
) {
  return tf.tidy(() => {
    const xT = tf.tensor2d(Float32Array.from(x), [shape.r, shape.k]);
    const wT = tf.tensor2d(Float32Array.from(w), [shape.k, shape.n]);
    const rowsT = tf.tensor1d(rows, 'int32');
    const probeT = tf.tensor2d(Float32Array.from(probe), [rows.length, shape.n]);
    const output = product(xT, rowsT, wT);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(product(a as tf.Tensor2D, rowsT, b as tf.Tensor2D), probeT)))([xT, wT]);
    return { output: output.dataSync().slice(), dx: grads[0].dataSync().slice(), dw: grads[1].dataSync().slice() };
  });
}

/** The plain formulation, which rowsProduct must equal. */
const plain: typeof rowsProduct = (x, rows, w) => tf.matMul(gatherRows(x, rows), w);

describe('rowsProduct (x[rows] w through the SIMD GEMM on wasm)', () => {
  const shapes = [
    { name: 'a pMoE expert at CIFAR shapes', r: 2048, k: 640, n: 160, m: 512 },
    { name: 'small, rows repeated', r: 6, k: 8, n: 4, m: 12 },
    { name: 'WRN-pMoE w = 1', r: 2048, k: 64, n: 16, m: 512 },
    { name: 'sizes the kernel does not take (plain path)', r: 9, k: 7, n: 5, m: 6 },
  ];
  for (const shape of shapes) {
    test(`${shape.name}: forward and gradients equal the plain formulation on cpu (x [${shape.r}, ${shape.k}], w [${shape.k}, ${shape.n}], ${shape.m} rows)`, async () => {
      const rng = freshRng(`rows-product-${shape.name}`);
      const x = gaussian(rng, shape.r * shape.k);
      const w = gaussian(rng, shape.k * shape.n);
      const probe = gaussian(rng, shape.m * shape.n);
      const rows = Array.from({ length: shape.m }, () => rng.int(shape.r));
      await initEngine('cpu');
      const reference = valueAndGradients(plain, x, rows, w, probe, shape);
      await initEngine('wasm');
      const before = tf.memory().numTensors;
      const fast = valueAndGradients(rowsProduct, x, rows, w, probe, shape);
      assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
      const takesFastPath = shape.m % 4 === 0 && shape.k % 4 === 0 && shape.n % 4 === 0;
      const profile = await tf.profile(() =>
        tf.tidy(() => rowsProduct(tf.zeros([shape.r, shape.k]), tf.zeros([shape.m], 'int32'), tf.zeros([shape.k, shape.n]))),
      );
      assert.equal(profile.kernelNames.includes(ROWS_PRODUCT), takesFastPath, `kernels run: ${profile.kernelNames.join(', ')}`);
      for (const key of ['output', 'dx', 'dw'] as const) {
        const error = relativeError(fast[key], reference[key]);
        assert.ok(error < 1e-5, `${key}: relative error ${error}`);
      }
    });
  }

  test('a row index out of range is refused, naming it, and leaks nothing', async () => {
    await initEngine('wasm');
    const x = tf.zeros([4, 8]) as tf.Tensor2D;
    const w = tf.zeros([8, 4]) as tf.Tensor2D;
    const rows = tf.tensor1d([0, 1, 2, 4], 'int32');
    const before = tf.memory().numTensors;
    assert.throws(() => rowsProduct(x, rows, w), /rows\[3\] = 4 is out of range; allowed row indices are 0\.\.3/);
    assert.equal(tf.memory().numTensors, before);
    assert.throws(() => rowsProduct(x, rows, tf.zeros([7, 4]) as tf.Tensor2D), /x has 8 columns but w has 7 rows/);
    tf.dispose([x, w, rows]);
  });

  for (const [m, k, n] of [
    [2048, 640, 4],
    [30, 7, 2],
  ]) {
    test(`simdMatMul [${m}, ${k}] x [${k}, ${n}]: forward and gradients equal matMul on cpu`, async () => {
      const rng = freshRng(`simd-matmul-${m}-${k}-${n}`);
      const x = gaussian(rng, m * k);
      const w = gaussian(rng, k * n);
      const probe = gaussian(rng, m * n);
      const rows = Array.from({ length: m }, (_, i) => i);
      // simdMatMul ignores the row list: it multiplies every row, which is what rows = 0..m-1 means.
      const asRowsProduct: typeof rowsProduct = (a, _rows, b) => simdMatMul(a, b);
      await initEngine('cpu');
      const reference = valueAndGradients(plain, x, rows, w, probe, { r: m, k, n });
      await initEngine('wasm');
      const fast = valueAndGradients(asRowsProduct, x, rows, w, probe, { r: m, k, n });
      for (const key of ['output', 'dx', 'dw'] as const) {
        const error = relativeError(fast[key], reference[key]);
        assert.ok(error < 1e-5, `${key}: relative error ${error}`);
      }
    });
  }
});
