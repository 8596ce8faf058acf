import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gemmThreads } from '../../src/kernels/gemm-threads.js';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-simd.js';
import { SimdArena, type Region } from '../../src/kernels/simd-arena.js';
import { pad4 } from '../../src/kernels/simd-gemm.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

enableRelaxedSimd();

function put(arena: SimdArena, values: ArrayLike<number>, ints = false): Region {
  const region = arena.alloc(values.length);
  (ints ? arena.ints(region) : arena.floats(region)).set(values);
  return region;
}

function matrix(rng: Rng, length: number, zeros = 0): Float32Array {
  return Float32Array.from({ length }, () => (rng.next() < zeros ? 0 : rng.normal()));
}

/** gemm, gemmT and spmm of one arena on the same operands: C = A_rows W, A_rows^T D, and C by the sparse rows. */
function products(arena: SimdArena, a: Float32Array, rowsOfA: number, width: number, pick: number[], w: Float32Array, d: Float32Array, n: number) {
  const m = pick.length;
  const aRegion = put(arena, a);
  const sparse = arena.sparse(a, rowsOfA, width);
  const addresses = put(
    arena,
    pick.map((r) => aRegion.ptr + 4 * width * r),
    true,
  );
  const ids = put(arena, pick, true);
  const [wRegion, dRegion] = [put(arena, w), put(arena, d)];
  const [c, cSparse, cT] = [arena.alloc(m * n), arena.alloc(m * n), arena.alloc(pad4(width) * n)];
  arena.gemm(m, n, width, addresses, wRegion, c);
  arena.spmm(m, n, ids, sparse, wRegion, cSparse);
  arena.gemmT(pad4(width), n, m, addresses, dRegion, cT);
  return { gemm: arena.floats(c).slice(), spmm: arena.floats(cSparse).slice(), gemmT: arena.floats(cT).slice(0, width * n) };
}

describe('SimdArena on two threads (simd-arena.ts)', () => {
  // [rows of A, row length, N, picked rows (a multiple of 4)]: all above the split size, halves of 4k and 4k + 4 rows.
  const shapes = [
    [300, 784, 40, 320],
    [90, 600, 24, 200],
    [50, 1030, 12, 44],
  ] as const;
  for (const [rowsOfA, width, n, m] of shapes) {
    it(`gemm, gemmT and spmm split by output rows give the one-thread arena's floats to the bit: A ${rowsOfA}x${width}, N = ${n}, ${m} rows`, (t) => {
      const threads = gemmThreads();
      if (threads === null) return t.skip('the two-thread products need two cores and worker threads');
      const rng = freshRng(`simd-arena ${rowsOfA}x${width}x${n}`);
      const a = matrix(rng, rowsOfA * width, 0.7);
      const pick = Array.from({ length: m }, () => rng.int(rowsOfA));
      const w = matrix(rng, width * n);
      const d = matrix(rng, m * n);
      const two = new SimdArena(undefined, threads);
      const one = new SimdArena();
      assert.equal(two.twoThreads, true);
      assert.equal(one.twoThreads, false);
      const split = products(two, a, rowsOfA, width, pick, w, d, n);
      const plain = products(one, a, rowsOfA, width, pick, w, d, n);
      two.dispose();
      one.dispose();
      for (const name of ['gemm', 'spmm', 'gemmT'] as const) assert.deepEqual(split[name], plain[name], name);
      // And the plain formulation, in float64.
      const expected = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < width; p++) expected[i * n + j] += a[pick[i] * width + p] * w[p * n + j];
      assert.ok(relativeError(split.gemm, expected) < 1e-5, `gemm: ${relativeError(split.gemm, expected)}`);
      const expectedT = new Float64Array(width * n);
      for (let p = 0; p < m; p++) for (let i = 0; i < width; i++) for (let j = 0; j < n; j++) expectedT[i * n + j] += a[pick[p] * width + i] * d[p * n + j];
      assert.ok(relativeError(split.gemmT, expectedT) < 1e-5, `gemmT: ${relativeError(split.gemmT, expectedT)}`);
    });
  }

  it("a disposed two-thread arena's shared memory serves the next two-thread arena, zeroed", (t) => {
    const threads = gemmThreads();
    if (threads === null) return t.skip('the two-thread products need two cores and worker threads');
    const first = new SimdArena(undefined, threads);
    first.floats(first.alloc(4096)).fill(3);
    first.dispose();
    const second = new SimdArena(undefined, threads);
    assert.ok(second.floats(second.alloc(4096)).every((value) => value === 0));
    second.dispose();
  });

  it('sgdStep rounds as the float32 update w += fround(-lr) g, to the bit, and refuses counts that are not multiples of 4', () => {
    const rng = freshRng('sgd-step');
    const count = 4 * 301;
    const arena = new SimdArena();
    const weights = matrix(rng, count);
    const grads = matrix(rng, count);
    const [w, g] = [put(arena, weights), put(arena, grads)];
    const learningRate = 0.1 + rng.next();
    arena.sgdStep(w, g, count, learningRate);
    const rate = Math.fround(-learningRate);
    const expected = Float32Array.from(weights, (value, i) => value + Math.fround(rate * grads[i]));
    assert.deepEqual(arena.floats(w), expected);
    assert.throws(() => arena.sgdStep(w, g, count - 2, learningRate), /bad sgdStep of 1202 floats/);
  });
});
