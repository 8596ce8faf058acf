import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMnistQuadrants } from '../../src/data/mnist-quadrants.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { buildWideResNet, buildWrnPmoe } from '../../src/models/wide-resnet.js';
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

  it('a sigmoid head (one logit, class 1): binary cross-entropy, logit > 0 for the accuracy, logit > 0.5 recorded beside', async () => {
    await initEngine('wasm');
    const binary = (split: ImageSplit): ImageSplit => ({ ...split, labels: split.labels.map((label) => label % 2) });
    const [train, test] = (await Promise.all([buildMnistQuadrants('train', { count: 64, seed: 2 }), buildMnistQuadrants('test', { count: 48, seed: 2 })])).map(
      binary,
    );
    const model = buildWideResNet({ wideningFactor: 1, classes: 2, inputSize: 32, channels: 1, seed: 5, head: 'sigmoid' });
    assert.deepEqual(model.outputs[0].shape, [null, 1]);
    const result = await trainImageModel(model, { train, test }, { epochs: 2, batchSize: 16, seed: 1 });
    const last = result.epochs.at(-1)!;
    const logits = tf.tidy(() => Array.from((model.predict(tf.tensor4d(test.images, [...test.shape])) as tf.Tensor).dataSync()));
    const labels = Array.from(test.labels);
    const accuracyAbove = (threshold: number) => labels.filter((y, i) => (logits[i] > threshold ? 1 : 0) === y).length / labels.length;
    assert.ok(Math.abs(last.testAccuracy - accuracyAbove(0)) < 1e-9, `${last.testAccuracy} vs ${accuracyAbove(0)}`);
    assert.ok(Math.abs(last.testAccuracyLogitAboveHalf! - accuracyAbove(0.5)) < 1e-9, `${last.testAccuracyLogitAboveHalf} vs ${accuracyAbove(0.5)}`);
    // log(1 + exp(-f)) for class 1, log(1 + exp(f)) for class 0.
    const bce = labels.reduce((sum, y, i) => sum + Math.log1p(Math.exp(y === 1 ? -logits[i] : logits[i])), 0) / labels.length;
    assert.ok(Math.abs(last.testLoss - bce) < 1e-4 * Math.max(1, bce), `test loss ${last.testLoss} vs ${bce}`);
    await assert.rejects(
      trainImageModel(model, { train: { ...train, labels: train.labels.map(() => 2) } }, { epochs: 1 }),
      /train label 2 at index 0 is not a class 0\.\.1/,
    );
    model.dispose();
    const softmax = buildWideResNet({ wideningFactor: 1, classes: 2, inputSize: 32, channels: 1, seed: 5 });
    const plain = await trainImageModel(softmax, { train, test }, { epochs: 1, batchSize: 16, seed: 1 });
    assert.equal(plain.epochs[0].testAccuracyLogitAboveHalf, undefined, 'two logits record one accuracy');
    softmax.dispose();
    assert.throws(() => buildWideResNet({ classes: 3, head: 'sigmoid' }), /head: 'sigmoid' \(one logit\) needs a binary task; this one has 3 classes/);
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
      /trainImageModel\.epochs: must be an integer >= 1 \(got 0\)/,
    );
    await assert.rejects(trainImageModel(model, { train: split([2, 16, 16, 1], [0, 1]) }, { learningRate: -1 }), /learningRate/);
    const result = await trainImageModel(model, { train: split([3, 16, 16, 1], [0, 1, 2]) }, { epochs: 1, batchSize: 2 });
    assert.equal(result.steps, 2);
    assert.ok(Number.isNaN(result.epochs[0].testAccuracy), 'no test split: NaN');
    model.dispose();
  });
});
