import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';

describe('two-layer models: a seed gives the same initial weights every time', () => {
  // tfjs reads a seed of 0 as "no seed" (Math.random); seed 0 is fig4's first seed.
  for (const seed of [0, 1, 7]) {
    it(`seed ${seed}: CNN and pMoE weights repeat; another seed differs`, async () => {
      await initEngine('wasm');
      const weights = (make: (seed: number) => TwoLayerCnn | TwoLayerPmoe, s: number) => {
        const model = make(s);
        const values = Object.fromEntries(Object.entries(model.namedWeights()).map(([name, t]) => [name, Array.from(t.dataSync())]));
        model.dispose();
        return values;
      };
      const cnn = (s: number) => new TwoLayerCnn({ patchCount: 4, patchDim: 6, neurons: 3, seed: s });
      const pmoe = (s: number) => new TwoLayerPmoe({ patchCount: 4, patchDim: 6, experts: 2, neuronsPerExpert: 2, patchesPerExpert: 2, seed: s });
      for (const make of [cnn, pmoe]) {
        assert.deepEqual(weights(make, seed), weights(make, seed));
        assert.notDeepEqual(weights(make, seed), weights(make, seed + 100));
      }
    });
  }
});
