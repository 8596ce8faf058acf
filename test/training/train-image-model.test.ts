import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMnistQuadrants } from '../../src/data/mnist-quadrants.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { buildWideResNet, buildWrnPmoe } from '../../src/models/wide-resnet.js';
import { evaluateImageModel, IMAGE_STEP_ENV, imageStepPath, trainImageModel, type ImageEpochRecord } from '../../src/training/train-image-model.js';
import { type ImageSplit } from '../../src/data/image-split.js';
import { createRng } from '../../src/util/random.js';
import { relativeError } from '../support/relative-error.js';

const numbers = (epochs: ImageEpochRecord[]) => epochs.map(({ trainSeconds, seconds, ...rest }) => rest);

/** A learnable 4-class task: class q brightens quadrant q of 16x16 noise. */
function quadrantSplit(count: number, seed: number): ImageSplit {
  const size = 16;
  const rng = createRng(`quadrants:${seed}`);
  const images = new Float32Array(count * size * size);
  const labels = Int32Array.from({ length: count }, () => rng.int(4));
  for (let i = 0; i < count; i++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) images[(i * size + y) * size + x] = rng.normal() * 0.5 + ((y < 8 ? 0 : 2) + (x < 8 ? 0 : 1) === labels[i] ? 1 : 0);
    }
  }
  return { images, labels, shape: [count, size, size, 1] };
}

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
    assert.equal(first.step, 'fused');
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

  it('the fused step and tfjs autodiff give the same epochs up to rounding (WRN and WRN-pMoE, 2 epochs, a smaller last batch)', async () => {
    await initEngine('wasm');
    const data = { train: quadrantSplit(42, 1), test: quadrantSplit(64, 2) };
    const builds = {
      wrn: () => buildWideResNet({ wideningFactor: 1, classes: 4, inputSize: 16, channels: 1, seed: 11, batchNormMomentum: 0.9 }),
      'wrn-pmoe': () =>
        buildWrnPmoe({ wideningFactor: 1, classes: 4, inputSize: 16, channels: 1, seed: 11, batchNormMomentum: 0.9, patchesPerExpert: 4, routerInitStd: 0.5 }),
    };
    for (const [name, build] of Object.entries(builds)) {
      const results = [];
      for (const step of ['fused', 'autodiff'] as const) {
        const model = build();
        const result = await trainImageModel(model, data, { epochs: 2, batchSize: 16, learningRate: 0.1, seed: 3, step });
        assert.equal(result.step, step);
        // The model holds the trained weights: tfjs's own evaluation of it gives the last epoch's test numbers.
        const check = evaluateImageModel(model, data.test!);
        assert.ok(relativeError([check.loss], [result.epochs[1].testLoss]) <= 1e-5, `${name} ${step}: the model's weights after training`);
        model.dispose();
        results.push(result);
      }
      const [fused, autodiff] = results;
      process.stdout.write(`# ${name}: fused ${JSON.stringify(numbers(fused.epochs))}\n# ${name}: autodiff ${JSON.stringify(numbers(autodiff.epochs))}\n`);
      // The paths round differently (the head sums in float64 on the fused one): over these 6 steps
      // the numbers moved by up to 7e-6 relative. Longer runs can amplify that as tfjs amplifies its
      // own rounding: on this data tfjs's gradients at its fifth step moved by 3e-2 when its weights
      // moved by 1e-6 (measured), so the run is kept short.
      for (let e = 0; e < 2; e++) {
        const [a, b] = [fused.epochs[e], autodiff.epochs[e]];
        for (const key of ['trainLoss', 'testLoss'] as const)
          assert.ok(relativeError([a[key]], [b[key]]) <= 1e-4, `${name} epoch ${e + 1} ${key}: ${a[key]} vs ${b[key]}`);
        assert.equal(a.trainAccuracy, b.trainAccuracy, `${name} epoch ${e + 1} train accuracy`);
        assert.equal(a.testAccuracy, b.testAccuracy, `${name} epoch ${e + 1} test accuracy`);
      }
    }
  });

  it('PMOE_IMAGE_STEP picks the path; a fused step that cannot run says why', async () => {
    await initEngine('wasm');
    const model = buildWideResNet({ wideningFactor: 1, classes: 2, inputSize: 8, channels: 1 });
    assert.equal(imageStepPath(model), 'fused');
    const saved = process.env[IMAGE_STEP_ENV];
    try {
      process.env[IMAGE_STEP_ENV] = 'autodiff';
      assert.equal(imageStepPath(model), 'autodiff');
      assert.equal(imageStepPath(model, 'fused'), 'fused', 'the option over the environment');
      process.env[IMAGE_STEP_ENV] = 'tape';
      assert.throws(() => imageStepPath(model), /PMOE_IMAGE_STEP must be 'fused' or 'autodiff'; got "tape"/);
    } finally {
      if (saved === undefined) delete process.env[IMAGE_STEP_ENV];
      else process.env[IMAGE_STEP_ENV] = saved;
    }
    await initEngine('cpu');
    assert.equal(imageStepPath(model), 'autodiff');
    assert.throws(() => imageStepPath(model, 'fused'), /the fused step cannot train this model: the cpu backend is active/);
    await initEngine('wasm');
    model.dispose();
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
