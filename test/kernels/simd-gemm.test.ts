import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimdArena, type Region } from '../../src/kernels/simd-arena.js';
import { fusedMultiplyAdd, gemmModuleBytes, pad4, simdAvailable, type Kernels } from '../../src/kernels/simd-gemm.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng } from '../support/random.js';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-simd.js';

// Before any product: the kernels choose fused or separate multiply-adds once.
const relaxedSimd = enableRelaxedSimd();
import { relativeError } from '../support/relative-error.js';

/** A [rows, cols] matrix of gaussians with a share `zeros` of exact zeros. */
function matrix(rng: Rng, rows: number, cols: number, zeros = 0): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => (rng.next() < zeros ? 0 : rng.normal()));
}

/**
 * The first index where a float32 product's result is farther from the exact one than float32
 * summation can take it (|error| <= terms * 2^-24 * sum of |terms|, the classic bound for any
 * order, fused or not), or -1. A relative error against a fixed tolerance fails now and then on
 * fresh random inputs whose sums nearly cancel; this bound holds for every input.
 */
function outsideRoundingBound(actual: ArrayLike<number>, exact: Float64Array, absoluteSums: Float64Array, terms: number): number {
  const u = terms * 2 ** -24;
  for (let i = 0; i < exact.length; i++) if (Math.abs(actual[i] - exact[i]) > u * absoluteSums[i] * (1 + 1e-9)) return i;
  return -1;
}

function put(arena: SimdArena, values: Float32Array): Region {
  const region = arena.alloc(values.length);
  arena.floats(region).set(values);
  return region;
}

describe('SIMD products (kernels/simd-gemm.ts) against float64 loops on fresh random inputs', () => {
  it('the module validates and compiles here', () => {
    assert.equal(simdAvailable(), true);
  });

  it('uses fused multiply-adds once opted in, where relaxed SIMD validates (Node 20 behind the flag enableRelaxedSimd sets, later V8s by default)', (t) => {
    if (!relaxedSimd) return t.skip('this runtime does not validate relaxed SIMD even with the flag');
    assert.equal(fusedMultiplyAdd(), true);
  });

  // [rows of A, row length, N, picked rows]: N a multiple of 4 (8-wide tiles and a 4-wide tail), row counts not.
  const shapes = [
    [5, 9, 4, 7],
    [13, 33, 12, 10],
    [40, 784, 40, 37],
    [6, 3, 20, 1],
    [9, 16, 8, 0],
    [11, 4, 36, 15],
    [30, 100, 8, 23],
    [17, 50, 56, 12],
    [9, 30, 116, 8],
  ] as const;

  for (const [rowCount, width, n, picked] of shapes)
    for (const fused of [true, false]) {
      it(`gemm, gemmT, spmm and spmmT (${fused ? 'fused' : 'separate'} multiply-add): A ${rowCount}x${width} (rows picked with repeats), N = ${n}, ${picked} rows`, () => {
        const rng = freshRng(`simd-gemm ${rowCount}x${width}x${n}`);
        const arena = new SimdArena(fused);
        const aValues = matrix(rng, rowCount, width, 0.6);
        const a = put(arena, aValues);
        const sparse = arena.sparse(aValues, rowCount, width);
        const pick = Array.from({ length: picked }, () => rng.int(rowCount));
        const m = pad4(picked);
        // Row tables padded to a multiple of 4 by repeating the last row, as the trainers do.
        const addresses = arena.alloc(Math.max(m, 4));
        const ids = arena.alloc(Math.max(m, 4));
        arena.ints(addresses).set(Array.from({ length: m }, (_, i) => a.ptr + 4 * width * pick[Math.min(i, picked - 1)]));
        arena.ints(ids).set(Array.from({ length: m }, (_, i) => pick[Math.min(i, picked - 1)]));

        // C = A_pick W, W [width, n].
        const wValues = matrix(rng, width, n);
        const w = put(arena, wValues);
        const expected = new Float64Array(picked * n);
        const absolute = new Float64Array(picked * n);
        for (let i = 0; i < picked; i++) {
          for (let j = 0; j < n; j++) {
            for (let p = 0; p < width; p++) {
              const term = aValues[pick[i] * width + p] * wValues[p * n + j];
              expected[i * n + j] += term;
              absolute[i * n + j] += Math.abs(term);
            }
          }
        }
        const dense = arena.alloc(m * n);
        const viaSparse = arena.alloc(m * n);
        arena.gemm(m, n, width, addresses, w, dense);
        arena.spmm(m, n, ids, sparse, w, viaSparse);
        assert.equal(outsideRoundingBound(arena.floats(dense), expected, absolute, width), -1, 'gemm');
        // A zero term adds nothing, in either order: the sparse product gives the same floats.
        assert.deepEqual(arena.floats(viaSparse), arena.floats(dense), 'spmm = gemm');

        // C = A_pick^T D, D [picked, n].
        const dValues = matrix(rng, picked, n);
        const dy = put(arena, dValues);
        const expectedT = new Float64Array(width * n);
        const absoluteT = new Float64Array(width * n);
        for (let p = 0; p < picked; p++) {
          for (let i = 0; i < width; i++) {
            for (let j = 0; j < n; j++) {
              const term = aValues[pick[p] * width + i] * dValues[p * n + j];
              expectedT[i * n + j] += term;
              absoluteT[i * n + j] += Math.abs(term);
            }
          }
        }
        const denseT = arena.alloc(pad4(width) * n);
        const sparseT = arena.alloc(width * n);
        arena.floats(sparseT).fill(Number.NaN); // spmmT zeroes its output first
        arena.gemmT(pad4(width), n, picked, addresses, dy, denseT);
        arena.spmmT(picked, n, ids, sparse, dy, sparseT);
        assert.equal(outsideRoundingBound(arena.floats(denseT), expectedT, absoluteT, picked), -1, 'gemmT');
        assert.deepEqual(arena.floats(sparseT), arena.floats(denseT).subarray(0, width * n), 'spmmT = gemmT');
      });
    }

  it('refuses shapes that are not multiples of 4 or do not fit their regions', () => {
    const arena = new SimdArena();
    const rows = arena.alloc(4);
    const b = arena.alloc(12);
    const c = arena.alloc(16);
    assert.throws(() => arena.gemm(4, 3, 4, rows, b, c), RangeError);
    assert.throws(() => arena.gemm(3, 4, 3, rows, b, c), RangeError);
    assert.throws(() => arena.gemm(4, 4, 4, rows, b, c), RangeError, 'B holds 12 floats, not 16');
  });

  it("takes a disposed arena's memory for the next arena, with its regions zeroed again", () => {
    const first = new SimdArena();
    const region = first.alloc(5000);
    first.floats(region).fill(7);
    const buffer = first.floats(region).buffer;
    first.dispose();
    assert.throws(() => first.alloc(4), /after dispose/);
    const second = new SimdArena();
    const again = second.alloc(5000);
    assert.equal(second.floats(again).buffer, buffer, 'the same memory');
    assert.ok(second.floats(again).every((value) => value === 0));
    second.dispose();
  });

  it('keeps earlier regions intact when later allocations grow the memory', () => {
    const arena = new SimdArena();
    const first = arena.alloc(8);
    arena.floats(first).set([1, 2, 3, 4, 5, 6, 7, 8]);
    arena.alloc(4 * 65536); // several pages
    assert.deepEqual(Array.from(arena.floats(first)), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  for (const fused of [true, false]) {
    it(`gemmSeg and scaleRows (${fused ? 'fused' : 'separate'} multiply-add): segments read through a row table, bias, rows written through another`, () => {
      const rng = freshRng(`gemm-seg-${fused}`);
      const [m, n, segK, segs] = [12, 20, 7, 3];
      const memory = new WebAssembly.Memory({ initial: 4 });
      const kernels = new WebAssembly.Instance(new WebAssembly.Module(gemmModuleBytes(fused)), { env: { memory } }).exports as unknown as Kernels;
      let top = 64;
      const place = (values: ArrayLike<number>, ints = false) => {
        const ptr = top;
        (ints ? new Int32Array(memory.buffer, ptr, values.length) : new Float32Array(memory.buffer, ptr, values.length)).set(values);
        top += Math.ceil((values.length * 4 + 64) / 64) * 64;
        return ptr;
      };
      const pool = matrix(rng, 30, segK); // segments are rows of this pool, picked at random
      const poolAt = place(pool);
      const picks = Int32Array.from({ length: segs * m }, () => rng.int(30)); // segment-major: pick of (s, i) at s m + i
      const rows = place(
        Int32Array.from(picks, (r) => poolAt + 4 * r * segK),
        true,
      );
      const b = matrix(rng, segs * segK, n);
      const bias = matrix(rng, 1, n);
      const order = Int32Array.from({ length: m }, (_, i) => (i * 5) % m); // C's row i written at output row order[i]
      const c = place(new Float32Array(m * n));
      const crows = place(
        Int32Array.from(order, (r) => c + 4 * r * n),
        true,
      );
      kernels.gemmSeg(m, n, segK, segs, rows, m, place(b), crows, place(bias));
      const expected = new Float64Array(m * n);
      const absolute = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let [sum, abs] = [bias[j], Math.abs(bias[j])];
          for (let s = 0; s < segs; s++)
            for (let p = 0; p < segK; p++) {
              const term = pool[picks[s * m + i] * segK + p] * b[(s * segK + p) * n + j];
              [sum, abs] = [sum + term, abs + Math.abs(term)];
            }
          expected[order[i] * n + j] = sum;
          absolute[order[i] * n + j] = abs;
        }
      }
      const out = new Float32Array(memory.buffer, c, m * n).slice();
      assert.equal(outsideRoundingBound(out, expected, absolute, segs * segK + 1), -1, 'gemmSeg');

      const scales = matrix(rng, 1, m);
      const scaled = place(new Float32Array(m * n));
      const arows = place(
        Int32Array.from({ length: m }, (_, i) => c + 4 * i * n),
        true,
      );
      const targets = place(
        Int32Array.from(order, (r) => scaled + 4 * r * n),
        true,
      );
      kernels.scaleRows(m, n, arows, targets, place(scales));
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) want[order[i] * n + j] = scales[i] * out[i * n + j];
      assert.ok(relativeError(new Float32Array(memory.buffer, scaled, m * n), want) < 1e-6, 'scaleRows');
    });
  }
  it('reluSums and reluMask (the CNN pooling passes) equal their loops exactly, NaN and -0 counted as not positive', () => {
    const rng = freshRng('relu-sums');
    const [groups, patches, n] = [7, 5, 12];
    const arena = new SimdArena();
    const hValues = matrix(rng, groups * patches, n, 0.2);
    hValues[3] = Number.NaN;
    hValues[8] = -0;
    hValues[20] = Number.POSITIVE_INFINITY;
    const h = put(arena, hValues);
    const sums = arena.alloc(2 * groups * n);
    arena.reluSums(groups, patches, n, h, sums);
    const expected = new Float64Array(groups * n);
    for (let g = 0; g < groups; g++) {
      for (let t = 0; t < patches; t++) {
        for (let j = 0; j < n; j++) {
          const value = hValues[(g * patches + t) * n + j];
          if (value > 0) expected[g * n + j] += value;
        }
      }
    }
    assert.deepEqual(arena.doubles(sums), expected);

    const dpValues = matrix(rng, groups, n);
    const dp = put(arena, dpValues);
    const dh = arena.alloc(groups * patches * n);
    arena.floats(dh).fill(Number.NaN);
    arena.reluMask(groups, patches, n, h, dp, dh);
    const want = Float32Array.from({ length: groups * patches * n }, (_, i) => (hValues[i] > 0 ? dpValues[Math.floor(i / (patches * n)) * n + (i % n)] : 0));
    assert.deepEqual(arena.floats(dh), want);
  });
});
