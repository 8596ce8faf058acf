import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { releaseWebgpu } from '../../src/engine/webgpu/dawn.js';
import { loadModelFiles, saveModelFiles } from '../../src/io/model-files.js';
import { buildWideResNet, buildWrnPmoe } from '../../src/models/wide-resnet.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng } from '../support/random.js';
import { webgpuSkipReason } from '../support/webgpu-adapter.js';
import { relativeError } from '../support/relative-error.js';

const SIZE = 8;
const CLASSES = 3;
const BATCH = 4;

const CASES: [string, (seed: number) => tfl.LayersModel][] = [
  ['WRN', (seed) => buildWideResNet({ wideningFactor: 1, classes: CLASSES, inputSize: SIZE, seed })],
  // PatchMoE inside a tfjs-layers model, with 3x3 experts on 2x2 patches and with 1x1 experts.
  [
    'WRN-pMoE, 3x3 experts',
    (seed) => buildWrnPmoe({ wideningFactor: 1, classes: CLASSES, inputSize: SIZE, patchSize: 1, experts: 4, patchesPerExpert: 2, kernelSize: 3, seed }),
  ],
  [
    'WRN-pMoE, 1x1 experts, hard gates',
    (seed) =>
      buildWrnPmoe({ wideningFactor: 1, classes: CLASSES, inputSize: SIZE, patchSize: 1, experts: 2, patchesPerExpert: 2, kernelSize: 1, gate: 'hard', seed }),
  ],
];

/** Logits, sum(logits * probe) and its gradient for every trainable weight, BN in training mode. */
async function computeOn(backend: 'cpu' | 'webgpu', build: () => tfl.LayersModel, inputs: Float32Array, probe: Float32Array) {
  await initEngine(backend);
  assert.equal(tf.getBackend(), backend);
  const model = build();
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.tensor4d(inputs, [BATCH, SIZE, SIZE, 3]);
  const p = tf.tensor2d(probe, [BATCH, CLASSES]);
  try {
    const logits = model.apply(x, { training: true }) as tf.Tensor;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, p)) as tf.Scalar, variables);
    const result = {
      logits: Float32Array.from(logits.dataSync()),
      value: value.dataSync()[0],
      names: variables.map((v) => v.name),
      grads: variables.map((v) => (grads[v.name] ? Float32Array.from(grads[v.name].dataSync()) : new Float32Array(v.size))),
    };
    tf.dispose([logits, value, ...Object.values(grads)]);
    return result;
  } finally {
    tf.dispose([x, p]);
    model.dispose();
  }
}

describe('Wide-ResNet and WRN-pMoE on webgpu agree with the cpu backend', async () => {
  const skip = await webgpuSkipReason();
  after(() => releaseWebgpu());
  for (const [what, build] of CASES) {
    it(`${what}: logits, loss and every gradient (BN in training mode)`, { skip }, async () => {
      const rng = freshRng(`webgpu-wrn-${what}`);
      const seed = rng.int(100000);
      const inputs = Float32Array.from({ length: BATCH * SIZE * SIZE * 3 }, () => rng.normal());
      const probe = Float32Array.from({ length: BATCH * CLASSES }, () => rng.normal());
      const cpu = await computeOn('cpu', () => build(seed), inputs, probe);
      const gpu = await computeOn('webgpu', () => build(seed), inputs, probe);
      assert.ok(relativeError(gpu.logits, cpu.logits) < 1e-4, `logits differ by ${relativeError(gpu.logits, cpu.logits)}`);
      assert.ok(Math.abs(gpu.value - cpu.value) < 1e-4 * Math.max(1, Math.abs(cpu.value)), `loss ${gpu.value} vs ${cpu.value}`);
      assert.equal(gpu.grads.length, cpu.grads.length);
      // Conv biases feed a BatchNormalization whose batch statistics remove any per-channel
      // constant: their exact gradient is 0 and both backends give rounding noise. Each weight is
      // compared on max(its own scale, 1e-2 x the largest gradient).
      const scales = cpu.grads.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      const floor = 1e-2 * Math.max(...scales);
      cpu.grads.forEach((g, i) => {
        let diff = 0;
        for (let j = 0; j < g.length; j++) diff = Math.max(diff, Math.abs(gpu.grads[i][j] - g[j]));
        const err = diff / Math.max(scales[i], floor);
        assert.ok(err < 1e-3, `${cpu.names[i]}: relative error ${err.toExponential(2)} (gradient scale ${scales[i].toExponential(2)})`);
      });
    });
  }

  it('a WRN-pMoE saved on webgpu loads on wasm with the same outputs', { skip }, async () => {
    await initEngine('webgpu');
    const model = buildWrnPmoe({ wideningFactor: 1, classes: CLASSES, inputSize: SIZE, patchSize: 1, experts: 2, patchesPerExpert: 2, kernelSize: 1, seed: 3 });
    const x = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 4);
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-webgpu-'));
    try {
      // A training-mode pass moves the BN statistics, so the saved file differs from a fresh build.
      tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
      const expected = Float32Array.from((model.predict(x) as tf.Tensor).dataSync());
      await saveModelFiles(model, dir);
      await initEngine('wasm');
      const loaded = await loadModelFiles(dir);
      assert.ok(loaded.getLayer('moe') instanceof PatchMoE);
      const actual = (loaded.predict(tf.tensor(x.dataSync(), x.shape)) as tf.Tensor).dataSync();
      assert.ok(relativeError(actual, expected) < 1e-4, `outputs differ by ${relativeError(actual, expected)}`);
      loaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
      model.dispose();
    }
  });
});
