import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../../src/engine/backend.js';
import { loadModel, saveModel } from '../../src/io/save-model.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { patchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng, gaussian } from '../support/random.js';

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

  it('the two-layer cnn and the pMoE of both regimes, on fresh random weights, predict bit for bit what they did', async () => {
    await initEngine('cpu');
    const rng = freshRng('save-two-layer');
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-save-model-'));
    const [n, d, batch] = [6, 5, 7];
    const models = {
      cnn: new TwoLayerCnn({ patchCount: n, patchDim: d, neurons: 4, classes: 3, seed: rng.int(1000) }),
      separate: new TwoLayerPmoe({ patchCount: n, patchDim: d, experts: 2, neuronsPerExpert: 3, patchesPerExpert: 2, regime: 'separate', seed: rng.int(1000) }),
      joint: new TwoLayerPmoe({ patchCount: n, patchDim: d, experts: 3, neuronsPerExpert: 2, patchesPerExpert: 3, gate: 'softmax-all', seed: rng.int(1000) }),
    };
    // Weights no seed draws, so a loader that re-draws from the config instead of reading would be caught.
    for (const model of Object.values(models)) {
      for (const variable of model.trainableVariables()) variable.assign(tf.tensor(Float32Array.from(gaussian(rng, variable.size)), variable.shape));
    }
    const patches = tf.tensor3d(Float32Array.from(gaussian(rng, batch * n * d)), [batch, n, d]);
    try {
      for (const [name, model] of Object.entries(models)) {
        await saveModel(model, join(dir, name));
        const back = await loadModel(join(dir, name));
        assert.equal(back.constructor, model.constructor, name);
        const loaded = back as typeof model;
        assert.deepEqual(loaded.config, model.config, name);
        for (const [weight, tensor] of Object.entries(model.namedWeights())) {
          assert.deepEqual(loaded.namedWeights()[weight].dataSync(), tensor.dataSync(), `${name} ${weight}`);
        }
        const logits = (m: TwoLayerCnn | TwoLayerPmoe) => tf.tidy(() => m.forward(patches).dataSync());
        assert.deepEqual(logits(loaded), logits(model), name);
        // predict, which every model loadModel returns has, is forward behind a shape check.
        assert.deepEqual(
          tf.tidy(() => (back.predict(patches) as tf.Tensor).dataSync()),
          logits(model),
          name,
        );
        assert.throws(
          () => back.predict(tf.zeros([batch, n, d + 1])),
          new RegExp(
            `${model.constructor.name}\\.predict: patches must be \\[batch, ${n}, ${d}\\] \\(\\[batch, n, d\\]\\); got \\[${batch}, ${n}, ${d + 1}\\]`,
          ),
        );
        loaded.dispose();
      }
    } finally {
      for (const model of Object.values(models)) model.dispose();
      patches.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses what it cannot save or find, saying what it expected', async () => {
    await assert.rejects(saveModel({} as never, join(tmpdir(), 'never-written')), /expected a tfjs LayersModel, a TwoLayerPmoe or a TwoLayerCnn; got Object/);
    await assert.rejects(loadModel(join(tmpdir(), 'pmoe-no-such-model')), /no saved model in .*pmoe-no-such-model: expected pmoe-model.json .* or model.json/);
  });
});
