import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { runOnce } from '../../src/training/run.js';

describe('separate training on the paper data model (n = 16, l >= l*)', () => {
  // Seeded: data seed 3, model seed 3. N = 100 is small: the CNN is far from perfect there.
  const data = { source: 'synthetic' as const, trainSize: 100, testSize: 1000, n: 16, confusers: 2, seed: 3 };
  const training = { epochs: 30, routerEpochs: 20, seed: 3 };

  it('learns discriminative routing (>= 95%) and is at least as accurate as the CNN at the same N', async () => {
    await initEngine('wasm');
    const separate = await runOnce({ data, model: { patchesPerExpert: 3 }, training: { ...training, model: 'separate' } });
    const cnn = await runOnce({ data, training: { ...training, model: 'cnn' } });
    assert.ok(separate.lStar! <= 3, `l = 3 must be >= l* (got l* = ${separate.lStar})`);
    assert.ok(separate.routingRate!.rate >= 0.95, `routing rate ${separate.routingRate!.rate}`);
    assert.ok(separate.finalTestAccuracy >= cnn.finalTestAccuracy, `separate ${separate.finalTestAccuracy} vs cnn ${cnn.finalTestAccuracy}`);
  });

  it('the same check fails when the routers are left untrained (random routing)', async () => {
    await initEngine('wasm');
    const untrained = await runOnce({ data, model: { patchesPerExpert: 3, routerInitStd: 1 }, training: { ...training, model: 'separate', routerEpochs: 0 } });
    // Random top-3 of 16 holds a given patch with probability 3/16.
    assert.ok(untrained.routingRate!.rate < 0.5, `untrained routing rate ${untrained.routingRate!.rate}`);
  });
});
