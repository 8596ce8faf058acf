import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engine/backend.js';
import { registerTopKGradient } from '../../src/ops/topk-gradient.js';
import { freshRng, gaussian } from '../support/random.js';
import type { Rng } from '../../src/util/random.js';

type Backend = 'cpu' | 'wasm';

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs fn on a backend and copies its result out, so nothing stays allocated there. */
async function on<T>(backend: Backend, fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  let result: T | undefined;
  // tidy's return value is scanned for tensors element by element: keep arrays out of it.
  tf.tidy(() => {
    result = fn();
  });
  return result as T;
}

function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: lengths differ`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (diff > worst) [worst, at] = [diff, i];
  }
  assert.ok(worst <= tolerance, `${what}: off by ${worst.toExponential(2)} at ${at} (tolerance ${tolerance})`);
}

/**
 * Rows whose entries are at least 0.15 apart, shuffled, so a finite-difference step of 1e-2
 * never changes which entries are the top k.
 */
function distinctRows(rng: Rng, shape: number[]): Float32Array {
  const n = shape[shape.length - 1];
  const out = new Float32Array(size(shape));
  for (let row = 0; row < out.length / n; row++) {
    const values = rng.shuffle(Array.from({ length: n }, (_, j) => (j - n / 2) * 0.2 + rng.next() * 0.05));
    out.set(values, row * n);
  }
  return out;
}

before(async () => {
  await initEngine('wasm');
});

describe('TopK gradient', () => {
  test('is registered, and registering again is harmless', () => {
    registerTopKGradient();
    registerTopKGradient();
    assert.ok(tf.getGradient('TopK'));
  });

  const rng = freshRng('TopK gradient');
  const cases: { shape: number[]; k: number; sorted?: boolean }[] = [
    { shape: [7], k: 1 },
    { shape: [7], k: 3 },
    { shape: [7], k: 7 },
    { shape: [3, 6], k: 2 },
    { shape: [3, 6], k: 5, sorted: false },
    { shape: [2, 3, 5], k: 1 },
    { shape: [2, 3, 5], k: 4 },
  ];
  for (const c of cases) {
    test(`matches central differences: shape [${c.shape}], k ${c.k}${c.sorted === false ? ', unsorted' : ''}`, async () => {
      const xVals = distinctRows(rng, c.shape);
      const valuesShape = [...c.shape.slice(0, -1), c.k];
      const wVals = Float32Array.from(gaussian(rng, size(valuesShape)));
      // Smooth in the top-k values, so the chain rule through them is exercised too.
      const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.tanh(tf.topk(x, c.k, c.sorted ?? true).values), tf.tensor(wVals, valuesShape)));
      const gradient = () => tf.grad(f)(tf.tensor(xVals, c.shape)).dataSync() as Float32Array;

      const eps = 1e-2;
      const numeric = await on('cpu', () => {
        const at = (vals: Float32Array) => f(tf.tensor(vals, c.shape)).dataSync()[0];
        return Float64Array.from(xVals, (_, i) => {
          const plus = xVals.slice();
          const minus = xVals.slice();
          plus[i] += eps;
          minus[i] -= eps;
          return (at(plus) - at(minus)) / (2 * eps);
        });
      });
      assertNear(await on('cpu', gradient), numeric, 1e-3, 'cpu gradient');
      assertNear(await on('wasm', gradient), numeric, 1e-3, 'wasm gradient');
    });
  }

  test('a loss reading top-k values and gathering by top-k indices trains on wasm', async () => {
    // Router-style: scores from a linear map, pick k of n patches per image, weight them by score.
    const [batch, n, d, k] = [3, 6, 4, 2];
    const patches = Float32Array.from(gaussian(rng, batch * n * d));
    const eps = 1e-3;
    // A central difference of step eps moves a score by at most eps * sum_i |p_i|: draw the router
    // until the sorted top k + 1 scores of every image are further apart than twice that, so the steps
    // below never change the selection or its order (a random draw can put two scores within 1e-3).
    const stable = (r: Float32Array) =>
      Array.from({ length: batch * n }, (_, row) => row).every((row) => {
        if (row % n !== 0) return true;
        const image = Array.from({ length: n }, (_, j) => patches.subarray((row + j) * d, (row + j + 1) * d));
        const scores = image.map((p) => p.reduce((sum, v, i) => sum + v * r[i], 0)).sort((a, b) => b - a);
        const reach = eps * Math.max(...image.map((p) => p.reduce((sum, v) => sum + Math.abs(v), 0)));
        return scores.slice(0, k + 1).every((score, j) => j === 0 || scores[j - 1] - score > 4 * reach);
      });
    let router = Float32Array.from(gaussian(rng, d));
    while (!stable(router)) router = Float32Array.from(gaussian(rng, d));
    const w = Float32Array.from(gaussian(rng, batch * k * d));
    const loss = (p: tf.Tensor, r: tf.Tensor) => {
      const scores = tf.reshape(tf.matMul(tf.reshape(p, [batch * n, d]), tf.reshape(r, [d, 1])), [batch, n]);
      const { values, indices } = tf.topk(scores, k);
      const picked = tf.gather(p, indices, 1, 1); // [batch, k, d]
      return tf.sum(tf.mul(tf.mul(picked, tf.expandDims(values, 2)), tf.tensor(w, [batch, k, d])));
    };
    const grads = () => {
      const [dPatches, dRouter] = tf.grads(loss)([tf.tensor(patches, [batch, n, d]), tf.tensor(router, [d])]);
      return { patches: dPatches.dataSync() as Float32Array, router: dRouter.dataSync() as Float32Array };
    };
    const cpu = await on('cpu', grads);
    const wasm = await on('wasm', grads);
    const scale = Math.max(...Array.from(cpu.patches, Math.abs), ...Array.from(cpu.router, Math.abs));
    assertNear(wasm.patches, cpu.patches, 1e-5 * scale, 'patch gradient, wasm vs cpu');
    assertNear(wasm.router, cpu.router, 1e-5 * scale, 'router gradient, wasm vs cpu');

    // The loss is quadratic in the router while the selection holds (the draw above makes sure it
    // does), so central differences are exact up to rounding.
    const numeric = await on('cpu', () => {
      const p = tf.tensor(patches, [batch, n, d]);
      const at = (r: Float32Array) => loss(p, tf.tensor(r, [d])).dataSync()[0];
      return Float64Array.from(router, (_, i) => {
        const plus = router.slice();
        const minus = router.slice();
        plus[i] += eps;
        minus[i] -= eps;
        return (at(plus) - at(minus)) / (2 * eps);
      });
    });
    assertNear(wasm.router, numeric, 1e-3 * Math.max(1, scale), 'router gradient vs central differences');
  });
});
