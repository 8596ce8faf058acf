import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { buildModel } from '../../src/models/build.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';

/** The error names the option, shows the value given and says what is allowed. */
function assertRefused(make: () => unknown, option: RegExp, value: string, allowed: RegExp) {
  assert.throws(make, (error: Error) => {
    assert.match(error.message, option);
    assert.ok(error.message.includes(value), `message shows the value ${value}: ${error.message}`);
    assert.match(error.message, allowed);
    return true;
  });
}

describe('invalid configurations are refused with a clear message', () => {
  const base = { patchCount: 16, patchDim: 8 };
  it('two-layer pMoE', async () => {
    await initEngine('cpu');
    assertRefused(() => new TwoLayerPmoe({ ...base, patchesPerExpert: 17 }), /patchesPerExpert/, '17', /1\.\.16/);
    assertRefused(() => new TwoLayerPmoe({ ...base, patchesPerExpert: 0 }), /patchesPerExpert/, '0', /integer >= 1/);
    assertRefused(() => new TwoLayerPmoe({ ...base, experts: 0 }), /experts/, '0', /integer >= 1/);
    assertRefused(() => new TwoLayerPmoe({ ...base, gate: 'soft' as never }), /gate/, "'soft'", /'softmax-selected', 'softmax-all', 'hard'/);
    assertRefused(() => new TwoLayerPmoe({ ...base, pooling: 'max' as never }), /pooling/, "'max'", /'selected', 'all'/);
    assertRefused(() => new TwoLayerPmoe({ ...base, wings: 2 } as never), /unknown option/, "'wings'", /unknown/);
    assertRefused(() => buildModel({ ...base, kind: 'separate', experts: 3 }), /experts/, '3', /number of classes \(2\)/);
  });

  it('PatchMoE layer', async () => {
    await initEngine('cpu');
    const layer = (args: object) => new PatchMoE({ patchSize: 4, experts: 2, patchesPerExpert: 2, filtersPerExpert: 3, ...args });
    const input = () => tf.zeros([1, 16, 16, 2]);
    assertRefused(() => layer({ patchSize: 5 }).apply(input()), /patchSize\.height/, '5', /divides the input height 16/);
    assertRefused(() => layer({ patchSize: [4, 3] }).apply(input()), /patchSize\.width/, '3', /divides the input width 16/);
    assertRefused(() => layer({ patchesPerExpert: 17 }).apply(input()), /patchesPerExpert/, '17', /1\.\.16/);
    assertRefused(() => layer({ patchesPerExpert: 0 }), /patchesPerExpert/, '0', /integer >= 1/);
    assertRefused(() => layer({ experts: 0 }), /experts/, '0', /integer >= 1/);
    assertRefused(() => layer({ gate: 'top1' }), /gate/, "'top1'", /'softmax-selected', 'softmax-all', 'hard'/);
  });
});
