import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../../src/engine/backend.js';
import { loadModel, saveModel } from '../../src/io/save-model.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { patchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng } from '../support/random.js';

describe('saveModel and loadModel: one pair for every model a user trains', () => {
  it('a two-layer pMoE and a Layers model with a PatchMoE come back with the same outputs on fresh inputs', async () => {
    await initEngine('cpu');
    const rng = freshRng('save-model');
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-save-model-'));
    try {
      const pmoe = new TwoLayerPmoe({ patchCount: 6, patchDim: 5, experts: 3, neuronsPerExpert: 2, patchesPerExpert: 2, seed: rng.int(1000) });
      const patches = tf.tensor3d(
        Array.from({ length: 4 * 6 * 5 }, () => rng.normal()),
        [4, 6, 5],
      );
      await saveModel(pmoe, join(dir, 'pmoe'));
      const pmoeBack = await loadModel(join(dir, 'pmoe'));
      assert.ok(pmoeBack instanceof TwoLayerPmoe);
      assert.deepEqual(Array.from(pmoeBack.forward(patches).dataSync()), Array.from(pmoe.forward(patches).dataSync()));

      const layers = tfl.sequential({
        layers: [
          tfl.layers.inputLayer({ inputShape: [4, 4, 2] }),
          patchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 2, filtersPerExpert: 3, seed: rng.int(1000) }),
        ],
      });
      const images = tf.tensor4d(
        Array.from({ length: 3 * 4 * 4 * 2 }, () => rng.normal()),
        [3, 4, 4, 2],
      );
      await saveModel(layers, join(dir, 'layers'));
      const layersBack = await loadModel(join(dir, 'layers'));
      assert.ok(layersBack instanceof tfl.LayersModel);
      const predict = (model: tfl.LayersModel) => Array.from((model.predict(images) as tf.Tensor).dataSync());
      assert.deepEqual(predict(layersBack), predict(layers));
      tf.dispose([patches, images]);
      pmoe.dispose();
      pmoeBack.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses what it cannot save or find, saying what it expected', async () => {
    await assert.rejects(saveModel({} as never, join(tmpdir(), 'never-written')), /expected a tfjs LayersModel or a TwoLayerPmoe; got Object/);
    await assert.rejects(loadModel(join(tmpdir(), 'pmoe-no-such-model')), /no saved model in .*pmoe-no-such-model: expected pmoe-model.json .* or model.json/);
  });
});
