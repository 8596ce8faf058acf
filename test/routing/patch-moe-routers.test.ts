import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { loadModelFiles, saveModelFiles } from '../../src/io/model-files.js';
import { PatchMoE, patchMoE } from '../../src/routing/patch-moe-layer.js';
import type { RouterSetting } from '../../src/routing/registry.js';
import { freshRng } from '../support/random.js';
import { buildMnistQuadrants } from '../../src/data/mnist-quadrants.js';
import { buildWrnModel, resolveWrnModel } from '../../src/models/wide-resnet.js';
import { trainImageModel } from '../../src/training/train-image-model.js';
import { describeWrnModel } from '../../src/models/wrn-layers.js';
import { fusedWrnUnsupported } from '../../src/training/fused-wrn.js';
import { webgpuStepUnsupported } from '../../src/training/webgpu/step-program.js';

const ROUTERS: { label: string; router?: RouterSetting }[] = [
  { label: "the paper's expert choice" },
  { label: 'token choice with noise and auxiliary losses', router: { name: 'token-choice', topK: 2, capacityFactor: 1, zLoss: 0.01 } },
  { label: 'token choice with batch priority', router: { name: 'token-choice', capacityFactor: 1, batchPriority: true, groupSize: 2, noiseStd: 0 } },
  { label: 'expert choice over the batch', router: { name: 'batch-expert-choice', capacityFactor: 2, groupSize: 3 } },
  { label: 'Soft MoE', router: 'soft-moe' },
];

const maxDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('PatchMoE with every router and both combine modes', () => {
  for (const { label, router } of ROUTERS) {
    for (const combine of ['concat', 'sum'] as const) {
      it(`${label}, combine ${combine}: trains inside tf.sequential (the router too), saves and loads`, async () => {
        await initEngine('wasm');
        const rng = freshRng(`patch-moe ${label} ${combine}`);
        const moe = patchMoE({
          patchSize: 2,
          experts: 4,
          patchesPerExpert: 2,
          filtersPerExpert: 3,
          kernelSize: combine === 'sum' ? 3 : 1,
          router,
          combine,
          seed: rng.int(1000),
        });
        const model = tfl.sequential({
          layers: [
            tfl.layers.inputLayer({ inputShape: [8, 8, 4] }),
            moe,
            tfl.layers.globalAveragePooling2d({}),
            tfl.layers.dense({ units: 2, kernelInitializer: 'glorotNormal' }),
          ],
        });
        assert.deepEqual(model.outputs[0].shape, [null, 2]);
        assert.deepEqual(moe.computeOutputShape([null, 8, 8, 4]), [null, 8, 8, combine === 'concat' ? 12 : 3]);
        model.compile({ optimizer: tf.train.sgd(0.5), loss: 'sparseCategoricalCrossentropy' });
        const x = tf.randomNormal([12, 8, 8, 4], 0, 1, 'float32', rng.int(1000));
        const y = tf.tensor1d(
          Array.from({ length: 12 }, () => rng.int(2)),
          'float32',
        );
        const routerBefore = Array.from(moe.weights[0].read().dataSync());
        const history = await model.fit(x, y, { epochs: 2, batchSize: 6, verbose: 0 });
        assert.ok((history.history.loss as number[]).every(Number.isFinite), 'finite losses');
        assert.notDeepEqual(Array.from(moe.weights[0].read().dataSync()), routerBefore, 'the router learns');
        // Token choice has V-MoE's importance loss by default (and its load loss where it draws noise).
        const withLosses = typeof router === 'object' && router.name === 'token-choice';
        assert.equal(moe.losses.length, withLosses ? 1 : 0, 'the auxiliary losses are a layer loss where the router has them');
        const before = (model.predict(x) as tf.Tensor).dataSync();
        const dir = await mkdtemp(join(tmpdir(), 'pmoe-routers-save-'));
        try {
          await saveModelFiles(model, dir);
          const loaded = await loadModelFiles(dir);
          const after = (loaded.predict(x) as tf.Tensor).dataSync();
          assert.ok(maxDifference(before, after) <= 1e-5, `max difference ${maxDifference(before, after)}`);
          const layer = loaded.layers.find((l) => l instanceof PatchMoE) as PatchMoE;
          assert.deepEqual(layer.settings.router, moe.settings.router);
          assert.equal(layer.settings.combine, combine);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        tf.dispose([x, y]);
        model.dispose();
      });
    }
  }

  it("combine 'sum' is each patch's gated expert outputs summed in place, against plain loops", async () => {
    await initEngine('cpu');
    const rng = freshRng('patch-moe sum by hand');
    // 1x1 patches on a 2x2 map: 4 patches, 3 experts of 2 filters, each taking 2 patches.
    const settings = { patchSize: 1, experts: 3, patchesPerExpert: 2, filtersPerExpert: 2, seed: rng.int(1000) };
    const [sum, concat] = [patchMoE({ ...settings, combine: 'sum' }), patchMoE({ ...settings })];
    const x = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', rng.int(1000)) as tf.Tensor4D;
    const out = (sum.apply(x) as tf.Tensor).dataSync();
    concat.apply(x);
    assert.deepEqual(
      concat.weights.map((w) => Array.from(w.read().dataSync())),
      sum.weights.map((w) => Array.from(w.read().dataSync())),
      'the same seeded weights',
    );
    const routing = sum.routing(x);
    const [indices, gates] = [routing.indices.dataSync(), routing.gates.dataSync()];
    const input = x.dataSync();
    const expected = new Float64Array(4 * 2);
    for (let s = 0; s < 3; s++) {
      const kernel = sum.weights[1 + 2 * s].read().dataSync(); // [1, 1, 3, 2]
      const bias = sum.weights[2 + 2 * s].read().dataSync();
      for (let t = 0; t < 2; t++) {
        const j = indices[s * 2 + t];
        for (let o = 0; o < 2; o++) {
          let value = bias[o];
          for (let c = 0; c < 3; c++) value += input[j * 3 + c] * kernel[c * 2 + o];
          expected[j * 2 + o] += gates[s * 2 + t] * value;
        }
      }
    }
    assert.ok(maxDifference(out, expected) < 1e-5, `max difference ${maxDifference(out, expected)}`);
    const blocks = tf.sum(tf.reshape(concat.apply(x) as tf.Tensor, [4, 3, 2]), 1).dataSync();
    assert.ok(maxDifference(out, blocks) < 1e-6, 'sum = the concat blocks summed');
  });

  it("untaken 'pass': a patch no expert takes comes out as it went in; 'zero' makes it zero; a width that cannot pass is refused", async () => {
    await initEngine('cpu');
    // One expert taking 1 of 4 patches; its 2 filters match the 2 input channels.
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const settings = { patchSize: 1, experts: 1, patchesPerExpert: 1, filtersPerExpert: 2, seed: 3 };
    const passed = patchMoE({ ...settings, untaken: 'pass', router: { name: 'token-choice', capacityFactor: 0.25, noiseStd: 0 } });
    const out = (passed.apply(x) as tf.Tensor).dataSync();
    const taken = Array.from(passed.routing(x).indices.dataSync()).filter((j) => j >= 0);
    assert.equal(taken.length, 1, 'capacity 1: three patches dropped');
    for (let j = 0; j < 4; j++) {
      if (taken.includes(j)) continue;
      assert.deepEqual(Array.from(out.slice(2 * j, 2 * j + 2)), [2 * j + 1, 2 * j + 2], `patch ${j} passes through`);
    }
    const zeroed = patchMoE({ ...settings, router: { name: 'token-choice', capacityFactor: 0.25, noiseStd: 0 } });
    const zeros = (zeroed.apply(x) as tf.Tensor).dataSync();
    assert.equal(Array.from(zeros).filter((v) => v === 0).length, 6, 'three untaken patches of two channels are zero');
    assert.throws(
      () => patchMoE({ ...settings, filtersPerExpert: 3, untaken: 'pass' }).apply(x),
      /untaken 'pass' .* as wide as the input \(2 channels\); it is 3/,
    );
    assert.throws(() => patchMoE({ ...settings, formulation: 'official', router: 'soft-moe' }).apply(x), /official formulation .* takes a sparse router/);
  });
});

describe('WRN-pMoE with a router of the registry', () => {
  it('token choice routes the PatchMoE (config recorded; its auxiliary losses join the training loss), training is finite and leaks nothing', async () => {
    await initEngine('wasm');
    const [train, test] = await Promise.all([buildMnistQuadrants('train', { count: 40, seed: 2 }), buildMnistQuadrants('test', { count: 20, seed: 2 })]);
    const config = resolveWrnModel(
      { architecture: 'wrn-pmoe', wideningFactor: 1, router: { name: 'token-choice', topK: 2 } },
      { classes: 4, inputSize: 32, channels: 1, seed: 5 },
    );
    assert.equal((config as { router?: { name: string } }).router?.name, 'token-choice');
    const before = tf.memory().numTensors;
    const model = buildWrnModel(config);
    const moe = model.layers.find((l) => l instanceof PatchMoE) as PatchMoE;
    assert.equal(moe.losses.length, 1);
    const result = await trainImageModel(model, { train, test }, { epochs: 1, batchSize: 20, learningRate: 0.1, seed: 1 });
    assert.ok(Number.isFinite(result.epochs[0].trainLoss) && Number.isFinite(result.epochs[0].testLoss));
    model.dispose();
    assert.equal(tf.memory().numTensors, before, 'no tensors leak (the layer disposes its last auxiliary loss)');
  });

  it("the fused and WebGPU steps, written for the paper's routing, refuse another router (such runs train by autodiff)", () => {
    const shape = { classes: 4, inputSize: 32, channels: 1, seed: 5 };
    const routed = describeWrnModel(resolveWrnModel({ architecture: 'wrn-pmoe', wideningFactor: 1, router: 'token-choice' }, shape) as never);
    assert.match(fusedWrnUnsupported(routed) ?? '', /routes by the paper's expert choice only/);
    assert.match(webgpuStepUnsupported(routed) ?? '', /router 'token-choice'/);
    for (const router of [undefined, 'expert-choice'] as const) {
      const paper = describeWrnModel(resolveWrnModel({ architecture: 'wrn-pmoe', wideningFactor: 1, ...(router ? { router } : {}) }, shape) as never);
      assert.doesNotMatch(fusedWrnUnsupported(paper) ?? '', /expert choice only/, `router ${router}`);
      assert.doesNotMatch(webgpuStepUnsupported(paper) ?? '', /router/, `router ${router}`);
    }
  });
});
