import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../../src/engine/backend.js';
import { modelFlops } from '../../src/analysis/flops.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../../src/models/wide-resnet.js';
import { performedFlops, winogradMultiplyShare } from '../../bench/flops.js';

const saved = process.env.PMOE_CONV;
afterEach(() => {
  if (saved === undefined) delete process.env.PMOE_CONV;
  else process.env.PMOE_CONV = saved;
});

describe("bench/flops.ts: the multiplies pmoe's convolutions do", () => {
  it("Winograd's share of direct convolution's multiply-adds: 4/9 for F(2x2, 3x3), 1/4 for F(4x4, 3x3), tiles past the edge counted whole", () => {
    assert.equal(winogradMultiplyShare(2, 32, 32), 4 / 9);
    assert.equal(winogradMultiplyShare(4, 16, 8), 1 / 4);
    // 13 x 11 takes 4 x 3 tiles of 4 x 4: 12 x 36 multiply-adds against 143 x 9.
    assert.equal(winogradMultiplyShare(4, 13, 11), (12 * 36) / (143 * 9));
  });

  it('a WRN-pMoE step: the direct count with PMOE_CONV=direct, fewer with Winograd on its 3x3 stride-1 layers', async () => {
    await initEngine('wasm');
    const model = buildWrnPmoe({ ...WRN_PMOE_CIFAR, wideningFactor: 1, classes: 10, inputSize: 32, channels: 3, seed: 1 });
    const direct = modelFlops(model, 32);
    process.env.PMOE_CONV = 'direct';
    assert.deepEqual(performedFlops(model, 32), { forward: direct.forward, trainStep: direct.trainStep });
    process.env.PMOE_CONV = 'winograd4';
    const performed = performedFlops(model, 32);
    // The 3x3 stride-1 layers (stem, block1's two, block2's second) at a quarter of their direct count.
    const winogradLayers = direct.perLayer.filter((layer) => /conv 3x3 .* stride 1 /.test(layer.formula));
    assert.equal(winogradLayers.length, 4);
    const saved = winogradLayers.reduce((sum, layer) => sum + layer.forward, 0) * (3 / 4);
    assert.ok(Math.abs(performed.forward - (direct.forward - saved)) < 1e-6 * direct.forward, `${performed.forward} against ${direct.forward - saved}`);
    assert.ok(Math.abs(performed.trainStep - (direct.trainStep - 3 * saved)) < 1e-6 * direct.trainStep);
    model.dispose();
  });
});
