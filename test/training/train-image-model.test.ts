import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMnistQuadrants } from '../../src/data/mnist-quadrants.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { buildWrnPmoe } from '../../src/models/wide-resnet.js';
import { trainImageModel, type ImageEpochRecord } from '../../src/training/train-image-model.js';
import { type ImageSplit } from '../../src/data/image-split.js';

const numbers = (epochs: ImageEpochRecord[]) => epochs.map(({ trainSeconds, seconds, ...rest }) => rest);

describe('trainImageModel', () => {
  it('trains WRN-pMoE (w = 1) for 2 epochs on 200 MNIST-quadrant images on wasm: finite numbers, identical on a rerun', async () => {
    await initEngine('wasm');
    const [train, test] = await Promise.all([buildMnistQuadrants('train', { count: 200, seed: 1 }), buildMnistQuadrants('test', { count: 100, seed: 1 })]);
    // CIFAR-style routing on the 8x8 map: 64 patches of 1x1, k = 4 experts of 16 filters, l = 16.
    const build = () => buildWrnPmoe({ wideningFactor: 1, classes: 4, inputSize: 32, channels: 1, seed: 11 });
    const run = async () => {
      const model = build();
      const seen: number[] = [];
      const result = await trainImageModel(
        model,
        { train, test },
        { epochs: 2, batchSize: 25, learningRate: 0.1, seed: 3, onEpoch: (r) => void seen.push(r.epoch) },
      );
      model.dispose();
      assert.deepEqual(seen, [1, 2]);
      return result;
    };
    const before = tf.memory().numTensors;
    const first = await run();
    assert.equal(first.backend, 'wasm');
    assert.equal(first.steps, 16);
    assert.equal(first.epochs.length, 2);
    for (const e of first.epochs) {
      for (const value of [e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy, e.seconds]) assert.ok(Number.isFinite(value), JSON.stringify(e));
      assert.ok(e.trainAccuracy >= 0 && e.trainAccuracy <= 1 && e.testAccuracy >= 0 && e.testAccuracy <= 1);
    }
    const second = await run();
    assert.deepEqual(numbers(second.epochs), numbers(first.epochs));
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
    process.stdout.write(`# 2 epochs x 200 images: ${first.seconds.toFixed(1)} s; ${JSON.stringify(numbers(first.epochs))}\n`);
  });

  it('refuses data that does not fit the model, and bad options', async () => {
    await initEngine('wasm');
    const model = buildWrnPmoe({ wideningFactor: 1, classes: 4, inputSize: 16, channels: 1, patchSize: 1, experts: 4, patchesPerExpert: 4 });
    const split = (shape: [number, number, number, number], labels: number[]): ImageSplit => ({
      images: new Float32Array(shape.reduce((a, b) => a * b, 1)),
      labels: Int32Array.from(labels),
      shape,
    });
    await assert.rejects(
      trainImageModel(model, { train: split([2, 32, 32, 1], [0, 1]) }, { epochs: 1 }),
      /train images are 32x32x1 but the model takes 16x16x1/,
    );
    await assert.rejects(trainImageModel(model, { train: split([2, 16, 16, 1], [0, 4]) }, { epochs: 1 }), /train label 4 at index 1 is not a class 0\.\.3/);
    await assert.rejects(
      trainImageModel(model, { train: split([2, 16, 16, 1], [0, 1]) }, { epochs: 0 }),
      /trainImageModel\.epochs: must be an integer in 1\.\.100000 \(got 0\)/,
    );
    await assert.rejects(trainImageModel(model, { train: split([2, 16, 16, 1], [0, 1]) }, { learningRate: -1 }), /learningRate/);
    const result = await trainImageModel(model, { train: split([3, 16, 16, 1], [0, 1, 2]) }, { epochs: 1, batchSize: 2 });
    assert.equal(result.steps, 2);
    assert.ok(Number.isNaN(result.epochs[0].testAccuracy), 'no test split: NaN');
    model.dispose();
  });
});
