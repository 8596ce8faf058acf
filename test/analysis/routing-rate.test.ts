import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectRouting, discriminativeRoutingRate, separateRoutingCurve } from '../../src/analysis/routing-rate.js';
import { makeSyntheticSplit } from '../../src/data/synthetic.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import type { PatchDataset } from '../../src/data/dataset.js';
import type { RoutingArrays } from '../../src/routing/route.js';

function dataset(labels: number[], discriminativePatch: number[]): PatchDataset {
  return {
    patches: new Float32Array(labels.length * 4),
    labels: Int32Array.from(labels),
    discriminativePatch: Int32Array.from(discriminativePatch),
    count: labels.length,
    patchCount: 4,
    patchDim: 1,
    classes: 2,
  };
}

// 4 samples, k = 2 experts, l = 2: indices [sample][expert][slot].
const routing: RoutingArrays = {
  batch: 4,
  experts: 2,
  patchesPerExpert: 2,
  indices: Int32Array.from(
    [
      [
        [0, 1],
        [2, 3],
      ], // sample 0
      [
        [3, 2],
        [1, 0],
      ], // sample 1
      [
        [1, 2],
        [0, 3],
      ], // sample 2
      [
        [2, 0],
        [3, 1],
      ], // sample 3
    ].flat(2),
  ),
  gates: Float32Array.from(
    [
      [
        [0.6, 0.4],
        [0.5, 0.5],
      ],
      [
        [0.7, 0.3],
        [0.9, 0.1],
      ],
      [
        [0.2, 0.8],
        [0.6, 0.4],
      ],
      [
        [0.5, 0.5],
        [0.3, 0.7],
      ],
    ].flat(2),
  ),
};

describe('discriminative routing rate', () => {
  it('separate: the patch must be in the top l of its class expert', () => {
    // class 0 -> expert 0, class 1 -> expert 1.
    const data = dataset([0, 0, 1, 1], [1, 1, 3, 0]);
    // sample 0: expert 0 has 1 (yes); sample 1: expert 0 has {3,2} (no); sample 2: expert 1 has 3 (yes); sample 3: expert 1 {3,1} (no)
    const rate = discriminativeRoutingRate(routing, data, 'separate');
    assert.equal(rate.rate, 0.5);
    assert.deepEqual(rate.perClass, [0.5, 0.5]);
    assert.equal(rate.samples, 4);
  });

  it('joint: some expert must take the patch and give it its largest gate (ties count)', () => {
    const data = dataset([0, 1, 0, 1], [0, 2, 2, 0]);
    // sample 0: expert 0 gives patch 0 gate 0.6 = max -> yes
    // sample 1: patch 2 in expert 0 with 0.3 < 0.7 -> no; not in expert 1 -> no
    // sample 2: patch 2 in expert 0 with 0.8 = max -> yes
    // sample 3: patch 0 in expert 0 with 0.5 = tied max -> yes
    const rate = discriminativeRoutingRate(routing, data, 'joint');
    assert.equal(rate.rate, 0.75);
    assert.deepEqual(rate.perClass, [1, 0.5]);
  });

  it('skips samples whose discriminative patch is unknown', () => {
    const rate = discriminativeRoutingRate(routing, dataset([0, 0, 1, 1], [1, -1, -1, -1]), 'separate');
    assert.equal(rate.samples, 1);
    assert.equal(rate.rate, 1);
  });
});

describe('separate routing curve', () => {
  it('equals the routing rate of a separate model at every l, from one pass', async () => {
    await initEngine('wasm');
    const { test } = makeSyntheticSplit({ n: 8, d: 12, seed: Date.now() % 1000 }, 10, 300);
    const routers = tf.randomNormal([12, 2]) as tf.Tensor2D;
    const curve = separateRoutingCurve(routers, test);
    assert.equal(curve.length, 8);
    assert.equal(curve[7], 1);
    for (let l = 1; l <= 8; l++) {
      const model = new TwoLayerPmoe({ patchCount: 8, patchDim: 12, experts: 2, patchesPerExpert: l, gate: 'hard' });
      model.routers.assign(routers);
      const rate = discriminativeRoutingRate(collectRouting(model, test), test, 'separate').rate;
      assert.ok(Math.abs(rate - curve[l - 1]) < 1e-12, `l = ${l}: ${rate} vs ${curve[l - 1]}`);
      model.dispose();
    }
  });
});
