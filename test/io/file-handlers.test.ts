import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../../src/engine/backend.js';
import { patchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng, gaussian } from '../support/random.js';

describe('file:// save and load handlers (io/model-files.ts, registered by initEngine)', () => {
  it("model.save('file://dir') and tf.loadLayersModel('file://dir/model.json') round-trip a model with a PatchMoE, absolute and relative paths", async () => {
    await initEngine('wasm');
    const rng = freshRng('file-handlers');
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-file-handlers-'));
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same' }),
        patchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 3, filtersPerExpert: 2, seed: rng.int(1000) }),
      ],
    });
    const input = tf.tensor4d(Float32Array.from(gaussian(rng, 4 * 8 * 8 * 2)), [4, 8, 8, 2]);
    try {
      const result = await model.save(`file://${join(dir, 'absolute')}`);
      assert.ok(result.modelArtifactsInfo.weightDataBytes! > 0);
      assert.deepEqual((await readdir(join(dir, 'absolute'))).sort(), ['model.json', 'weights.bin']);
      await model.save(`file://${relative(process.cwd(), join(dir, 'relative'))}`);
      const expected = Array.from((model.predict(input) as tf.Tensor).dataSync());
      for (const url of [`file://${join(dir, 'absolute', 'model.json')}`, `file://${relative(process.cwd(), join(dir, 'relative'))}`]) {
        const back = await tfl.loadLayersModel(url);
        assert.deepEqual(Array.from((back.predict(input) as tf.Tensor).dataSync()), expected, url);
        back.dispose();
      }
      await truncate(join(dir, 'absolute', 'weights.bin'), 10);
      await assert.rejects(
        tfl.loadLayersModel(`file://${join(dir, 'absolute', 'model.json')}`),
        /are 10 bytes but .*model\.json describes \d+: truncated or mismatched/,
      );
      await assert.rejects(tfl.loadLayersModel(`file://${join(dir, 'none', 'model.json')}`), /cannot read the model's topology .*model\.json: does not exist/);
    } finally {
      model.dispose();
      input.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
