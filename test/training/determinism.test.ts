import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { runOnce, type RunRecord, type RunSpec } from '../../src/training/run.js';

const withoutTime = (record: RunRecord) => JSON.stringify({ ...record, wallTimeMs: 0, provenance: undefined });

describe('seeded runs are reproducible', () => {
  for (const model of ['cnn', 'separate', 'joint'] as const) {
    it(`${model}: same config, seed and backend give identical records; another seed differs`, async () => {
      await initEngine('wasm');
      const spec: RunSpec = {
        data: { source: 'synthetic', trainSize: 60, testSize: 200, classes: model === 'joint' ? 3 : 2, seed: 5 },
        training: { model, epochs: 4, routerEpochs: 3, seed: 5 },
      };
      const first = await runOnce(spec);
      const second = await runOnce(spec);
      assert.equal(withoutTime(first), withoutTime(second));
      const other = await runOnce({ ...spec, training: { ...spec.training, seed: 6 } });
      assert.notEqual(withoutTime(first), withoutTime(other));
      assert.ok(first.epochs.every((e) => Number.isFinite(e.trainLoss) && Number.isFinite(e.testAccuracy)));
    });
  }
});
