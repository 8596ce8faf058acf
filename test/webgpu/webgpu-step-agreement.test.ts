import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tf } from '../../src/engine/backend.js';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { buildWrnModel, resolveWrnModel, type WrnModelSpec } from '../../src/models/wide-resnet.js';
import { describeWrnModel } from '../../src/models/wrn-layers.js';
import { classificationLoss } from '../../src/training/loss.js';
import { WebgpuImageTrainer } from '../../src/training/webgpu/webgpu-trainer.js';
import { kernelTestDevice } from '../support/gpu-kernels.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

const BATCH = 4;
const CLASSES = 3;
const LEARNING_RATE = 0.1;

const CIFAR_STYLE = { patchSize: 1, experts: 4, patchesPerExpert: 2, kernelSize: 1, routerInitStd: 0.1 } as const;
const CELEBA_STYLE = { patchSize: 2, experts: 8, patchesPerExpert: 2, kernelSize: 3, routerInitStd: 0.1 } as const;

const CASES: [string, WrnModelSpec, number][] = [
  ['WRN', { architecture: 'wrn', wideningFactor: 1, batchNormMomentum: 0.9 }, 8],
  ['WRN w = 2', { architecture: 'wrn', wideningFactor: 2 }, 8],
  ...(['softmax-selected', 'softmax-all', 'hard'] as const).flatMap((gate): [string, WrnModelSpec, number][] => [
    [`WRN-pMoE CIFAR-style (1x1 patches, 1x1 experts), ${gate}`, { architecture: 'wrn-pmoe', wideningFactor: 1, ...CIFAR_STYLE, gate }, 8],
    [`WRN-pMoE CelebA-style (2x2 patches, 3x3 experts), ${gate}`, { architecture: 'wrn-pmoe', wideningFactor: 1, ...CELEBA_STYLE, gate }, 16],
  ]),
  ['WRN-pMoE with the shortcut', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CIFAR_STYLE, gate: 'softmax-all', shortcut: true }, 8],
];

describe("pmoe's WebGPU step agrees with tfjs autodiff on cpu (logits, loss, every gradient, BN statistics, the update)", async () => {
  const { runner, skip } = await kernelTestDevice();
  after(() => releaseWebgpu());
  for (const [what, spec, size] of CASES) {
    it(what, { skip }, async () => {
      const rng = freshRng(`webgpu-step-${what}`);
      const config = resolveWrnModel(spec, { classes: CLASSES, inputSize: size, channels: 3, seed: rng.int(100000) });
      const images = Float32Array.from({ length: BATCH * size * size * 3 }, () => rng.normal());
      const labels = Int32Array.from({ length: BATCH }, () => rng.int(CLASSES));

      // The reference: one training-mode pass with autodiff on cpu (which also moves the BN statistics).
      const model = buildWrnModel(config);
      const initial = new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)]));
      const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const names = new Map(model.trainableWeights.map((w) => [(w.read() as tf.Variable).name, w.originalName]));
      const x = tf.tensor4d(images, [BATCH, size, size, 3]);
      const y = tf.tensor1d(labels, 'int32');
      let logitsTensor: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(x, { training: true }) as tf.Tensor2D;
        logitsTensor = tf.keep(logits.clone());
        return classificationLoss(logits, y);
      }, trainable);
      const expected = {
        logits: logitsTensor!.dataSync(),
        loss: value.dataSync()[0],
        grads: new Map(Object.entries(grads).map(([name, g]) => [names.get(name)!, g.dataSync() as Float32Array])),
        moving: new Map(model.nonTrainableWeights.map((w) => [w.originalName, w.read().dataSync() as Float32Array])),
      };
      tf.dispose([x, y, logitsTensor!, value, ...Object.values(grads)]);
      model.dispose();

      const trainer = new WebgpuImageTrainer(runner!.device, describeWrnModel(config), { learningRate: LEARNING_RATE });
      try {
        trainer.writeWeights((name) => initial.get(name)!);
        await trainer.step(images, labels);
        const logits = new Float32Array(await trainer.readActivation(BATCH, 'logits', BATCH * CLASSES));
        assert.ok(relativeError(logits, expected.logits) < 1e-4, `logits differ by ${relativeError(logits, expected.logits)}`);
        const metrics = await trainer.readMetrics();
        assert.equal(metrics.images, BATCH);
        assert.ok(Math.abs(metrics.lossSum / BATCH - expected.loss) < 1e-4 * Math.max(1, expected.loss), `loss ${metrics.lossSum / BATCH} vs ${expected.loss}`);
        const gradients = await trainer.readGradients();
        assert.deepEqual([...gradients.keys()].sort(), [...names.values()].sort());
        // As in wide-resnet-agreement: conv biases before a BN have gradient 0 up to rounding, so each
        // weight is compared on max(its own scale, 1e-2 of the largest gradient).
        const scale = (g: ArrayLike<number>) => Array.from(g).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const floor = 1e-2 * Math.max(...[...names.values()].map((name) => scale(expected.grads.get(name) ?? [0])));
        for (const name of names.values()) {
          const want = expected.grads.get(name) ?? new Float32Array(gradients.get(name)!.length);
          const got = gradients.get(name)!;
          let diff = 0;
          for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
          const error = diff / Math.max(scale(want), floor, 1e-12);
          assert.ok(error < 1e-3, `${name}: relative error ${error.toExponential(2)} (gradient scale ${scale(want).toExponential(2)})`);
        }
        const after = await trainer.readWeights();
        for (const [name, moving] of expected.moving) {
          assert.ok(relativeError(after.get(name)!, moving) < 1e-4, `${name} differs by ${relativeError(after.get(name)!, moving)}`);
        }
        for (const name of names.values()) {
          const updated = Float32Array.from(initial.get(name)!, (v, i) => v - LEARNING_RATE * gradients.get(name)![i]);
          assert.ok(relativeError(after.get(name)!, updated) < 1e-6, `${name} after SGD`);
        }
        assert.equal(trainer.counters.submissions, 1);
      } finally {
        await trainer.destroy();
      }
    });
  }
});
