import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classProjections, pairSeparability } from '../../src/analysis/pair-separability.js';
import type { MnistSplit } from '../../src/data/mnist.js';

/** A split whose class c images are pattern c plus small noise; `patterns` row-major [10, 784] bytes. */
function splitOf(patterns: (c: number, k: number) => number, perClass = 20): MnistSplit {
  const count = 10 * perClass;
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  let state = 11;
  for (let i = 0; i < count; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let k = 0; k < 784; k++) {
      state = (state * 48271) % 2147483647;
      images[i * 784 + k] = Math.max(0, Math.min(255, patterns(c, k) + (state % 11) - 5));
    }
  }
  return { split: 'train', images, labels, count, rows: 28, cols: 28, imagesPath: 'a', labelsPath: 'b' };
}

describe('pair separability', () => {
  it('class items on their own pixels stand out along the class-mean difference: every sample routed, a large margin', async () => {
    // Class c inks pixels [78c, 78c + 78): disjoint supports.
    const split = splitOf((c, k) => (k >= 78 * c && k < 78 * (c + 1) ? 200 : 0));
    const result = pairSeparability(await classProjections(split), [1, 0], [2, 3, 4, 5, 6, 7, 8, 9], { patchCount: 16, patchesPerExpert: 2, samples: 300 });
    assert.equal(result.meanDirectionRate, 1);
    assert.ok(result.projectionMargin > 1, `margin ${result.projectionMargin}`);
  });

  it('fillers that carry a class item with more ink outrank it along either direction: routing fails and the margin is negative', async () => {
    // Class 2 inks class 1's pixels, class 3 class 0's, both darker than the items themselves.
    const split = splitOf((c, k) => {
      const home = c === 2 ? 1 : c === 3 ? 0 : c;
      return k >= 78 * home && k < 78 * (home + 1) ? (c >= 2 ? 250 : 120) : 0;
    });
    const result = pairSeparability(await classProjections(split), [1, 0], [2, 3], { patchCount: 16, patchesPerExpert: 2, samples: 300 });
    assert.ok(result.meanDirectionRate < 0.05, `rate ${result.meanDirectionRate}`);
    assert.ok(result.projectionMargin < 0, `margin ${result.projectionMargin}`);
  });

  it('the projections equal the plain dot products of each image with each class mean', async () => {
    const split = splitOf((c, k) => (k * (c + 3)) % 256, 3);
    const { projections } = await classProjections(split);
    for (const i of [0, 7, 29]) {
      for (const c of [0, 4, 9]) {
        let dot = 0;
        for (let k = 0; k < 784; k++) {
          let mean = 0;
          for (let j = c; j < split.count; j += 10) mean += split.images[j * 784 + k] / 255 / 3;
          dot += mean * (split.images[i * 784 + k] / 255);
        }
        assert.ok(Math.abs(projections[i * 10 + c] - dot) < 1e-9 * Math.max(1, Math.abs(dot)));
      }
    }
  });
});
