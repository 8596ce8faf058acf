import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pearson, ranks, spearman } from '../../src/analysis/correlation.js';

function random(seed: number) {
  let state = seed;
  return () => (state = (state * 16807) % 2147483647) / 2147483647;
}

/** Pearson's r as the mean product of standard scores (population standard deviations). */
function plainPearson(x: number[], y: number[]): number {
  const n = x.length;
  const m = (v: number[]) => v.reduce((s, t) => s + t, 0) / n;
  const sd = (v: number[]) => Math.sqrt(v.reduce((s, t) => s + (t - m(v)) ** 2, 0) / n);
  return x.reduce((s, _, i) => s + ((x[i] - m(x)) / sd(x)) * ((y[i] - m(y)) / sd(y)), 0) / n;
}

describe('correlation', () => {
  it("Pearson's r matches the mean product of standard scores on fresh random samples", () => {
    const next = random(7);
    for (let trial = 0; trial < 20; trial++) {
      const x = Array.from({ length: 5 + trial }, next);
      const y = x.map((v) => v * (trial - 10) + next());
      assert.ok(Math.abs(pearson(x, y) - plainPearson(x, y)) < 1e-12);
    }
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])), 'no spread: NaN');
    assert.throws(() => pearson([1, 2], [1]), /paired samples/);
  });

  it("Spearman's rho is 1 for any increasing relation, -1 for a decreasing one; ties share their mean rank", () => {
    const next = random(3);
    const x = Array.from({ length: 30 }, next);
    assert.ok(
      Math.abs(
        spearman(
          x,
          x.map((v) => Math.exp(5 * v)),
        ) - 1,
      ) < 1e-12,
    );
    assert.ok(
      Math.abs(
        spearman(
          x,
          x.map((v) => -(v ** 3)),
        ) + 1,
      ) < 1e-12,
    );
    assert.deepEqual(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1]);
  });
});
