import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PatchDataset } from '../../src/data/dataset.js';
import { makeSyntheticSplit } from '../../src/data/synthetic.js';
import { initEngine } from '../../src/engine/backend.js';
import type { Rng } from '../../src/util/random.js';
import { MODEL_KINDS } from '../../src/models/build.js';
import { trainModel, type StepPath, type TrainingResult } from '../../src/training/train.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/** Float rounding grows a little over SGD steps; far below the differences a wrong gradient makes. */
const WEIGHT_TOLERANCE = 1e-4;

/** The same set with a share `zeros` of its values set to 0, so the fused path takes its sparse products. */
function sparsened(data: PatchDataset, zeros: number, rng: Rng): PatchDataset {
  return { ...data, patches: data.patches.map((v) => (rng.next() < zeros ? 0 : v)) };
}

describe('a short training run on the fused path ends where the autodiff path does', async () => {
  await initEngine('wasm');
  const cases = [
    ...MODEL_KINDS.map((model) => ({ model, classes: 2, zeros: 0 })),
    { model: 'joint' as const, classes: 3, zeros: 0.7 },
    { model: 'separate' as const, classes: 3, zeros: 0.7 },
    { model: 'cnn' as const, classes: 2, zeros: 0.7 },
  ];
  for (const { model, classes, zeros } of cases) {
    it(`${model}, ${classes} classes${zeros ? ', sparse patches' : ''}: weights, every epoch's metrics, router losses and routing rate`, () => {
      const rng = freshRng(`fused run ${model} ${classes} ${zeros}`);
      const split = makeSyntheticSplit({ classes, seed: rng.int(1e6) }, 60, 100);
      const train = zeros ? sparsened(split.train, zeros, rng) : split.train;
      const test = zeros ? sparsened(split.test, zeros, rng) : split.test;
      const options = { model, epochs: 3, routerEpochs: 3, batchSize: 8, seed: rng.int(1000) };
      const run = (path: StepPath): TrainingResult => trainModel({}, train, test, options, {}, path);
      const fused = run('fused');
      const reference = run('autodiff');
      try {
        const weights = (result: TrainingResult) => result.model.namedWeights();
        for (const [name, tensor] of Object.entries(weights(reference))) {
          const error = relativeError(weights(fused)[name].dataSync(), tensor.dataSync());
          assert.ok(error <= WEIGHT_TOLERANCE, `${name}: relative error ${error}`);
        }
        assert.equal(fused.epochs.length, reference.epochs.length);
        fused.epochs.forEach((epoch, i) => {
          const other = reference.epochs[i];
          assert.ok(relativeError([epoch.trainLoss, epoch.testLoss], [other.trainLoss, other.testLoss]) <= WEIGHT_TOLERANCE, `epoch ${epoch.epoch} losses`);
          assert.equal(epoch.trainAccuracy, other.trainAccuracy, `epoch ${epoch.epoch} train accuracy`);
          assert.equal(epoch.testAccuracy, other.testAccuracy, `epoch ${epoch.epoch} test accuracy`);
        });
        if (model === 'separate') {
          assert.ok(relativeError(fused.routerPhase!.losses, reference.routerPhase!.losses) <= WEIGHT_TOLERANCE, 'router losses');
        }
        assert.deepEqual(fused.routingRate, reference.routingRate);
      } finally {
        fused.model.dispose();
        reference.model.dispose();
      }
    });
  }
});
