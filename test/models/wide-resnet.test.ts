import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initEngine, tf } from '../../src/engine/backend.js';
import { loadModelFiles, saveModelFiles } from '../../src/io/model-files.js';
import { buildWideResNet, buildWrnPmoe, trainableParams, WRN_PMOE_CELEBA, WRN_PMOE_CIFAR, type WrnPmoeOptions } from '../../src/models/wide-resnet.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/** The error names the option, shows the value given and says what is allowed. */
function assertRefused(make: () => unknown, option: RegExp, value: string, allowed: RegExp) {
  assert.throws(make, (error: Error) => {
    assert.equal(error.name, 'OptionError');
    assert.match(error.message, option);
    assert.ok(error.message.includes(value), `message shows the value ${value}: ${error.message}`);
    assert.match(error.message, allowed);
    return true;
  });
}

/**
 * Gradients of sum(logits * probe) with respect to every trainable weight, BatchNormalization in
 * training mode (batch statistics), on one backend. The model is built on that backend from the seed.
 */
async function gradientsOn(backend: 'cpu' | 'wasm', build: () => tfl.LayersModel, inputs: Float32Array, inputShape: number[], probe: Float32Array) {
  await initEngine(backend);
  const model = build();
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const names = model.trainableWeights.map((w) => w.name);
  const x = tf.tensor(inputs, inputShape);
  const p = tf.tensor(probe, [inputShape[0], probe.length / inputShape[0]]);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, p)) as tf.Scalar, variables);
  // Which ReLU inputs are positive: a pre-activation within rounding of 0 may fall on either side
  // of the kink on the two backends, and then the gradients below it differ legitimately.
  const relus = model.layers.filter((layer) => layer.getClassName() === 'ReLU');
  const probeModel = tfl.model({ inputs: model.inputs, outputs: relus.map((layer) => layer.input as tfl.SymbolicTensor) });
  const preActivations = [probeModel.apply(x, { training: true })].flat() as tf.Tensor[];
  const signs = Uint8Array.from(preActivations.flatMap((t) => Array.from(t.dataSync(), (v) => (v > 0 ? 1 : 0))));
  tf.dispose(preActivations);
  const result = {
    value: value.dataSync()[0],
    signs,
    names,
    weights: variables.map((v) => Float32Array.from(v.dataSync())),
    grads: variables.map((v) => Float32Array.from(grads[v.name].dataSync())),
  };
  tf.dispose([x, p, value, ...Object.values(grads)]);
  model.dispose();
  return result;
}

describe('Wide-ResNet and WRN-pMoE', () => {
  it('build with the paper CelebA and CIFAR pMoE settings at widening factor 1 and output [batch, classes]', async () => {
    await initEngine('wasm');
    const cases: [string, () => tfl.LayersModel, number, number][] = [
      ['WRN 32x32', () => buildWideResNet({ wideningFactor: 1, classes: 10 }), 32, 10],
      ['WRN 64x64', () => buildWideResNet({ wideningFactor: 1, classes: 2, inputSize: 64 }), 64, 2],
      ['WRN-pMoE CIFAR', () => buildWrnPmoe({ wideningFactor: 1, classes: 10, ...WRN_PMOE_CIFAR }), 32, 10],
      ['WRN-pMoE CelebA', () => buildWrnPmoe({ wideningFactor: 1, classes: 4, ...WRN_PMOE_CELEBA }), 64, 4],
    ];
    for (const [what, build, size, classes] of cases) {
      const model = build();
      const x = tf.randomNormal([3, size, size, 3], 0, 1, 'float32', 1);
      const y = model.predict(x) as tf.Tensor;
      assert.deepEqual(y.shape, [3, classes], what);
      assert.ok(Array.from(y.dataSync()).every(Number.isFinite), `${what}: finite logits`);
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it('WRN-pMoE wires the paper layout: k experts of 64w/k filters on the last map, 64w channels out, no shortcut', async () => {
    await initEngine('wasm');
    const model = buildWrnPmoe({ wideningFactor: 1, classes: 4, ...WRN_PMOE_CELEBA });
    const moe = model.getLayer('moe') as PatchMoE;
    assert.ok(moe instanceof PatchMoE);
    assert.equal(moe.settings.experts, 8);
    assert.equal(moe.settings.filtersPerExpert, 8);
    assert.equal(moe.settings.patchesPerExpert, 2);
    assert.equal(moe.settings.kernelSize, 3);
    assert.equal(moe.settings.gate, 'softmax-all');
    assert.deepEqual(moe.outputShape, [null, 16, 16, 64]);
    assert.ok(!model.layers.some((l) => l.name === 'block3_shortcut' || l.name === 'block3_conv2'));
    // Router init N(0, 1e-4^2) as in the official code.
    const router = moe.getWeights()[0].dataSync();
    const std = Math.sqrt(Array.from(router).reduce((s, v) => s + v * v, 0) / router.length);
    assert.ok(std > 0.5e-4 && std < 2e-4, `router std ${std}`);
    model.dispose();
    const withShortcut = buildWrnPmoe({ wideningFactor: 1, classes: 4, ...WRN_PMOE_CELEBA, shortcut: true });
    assert.ok(withShortcut.layers.some((l) => l.name === 'block3_shortcut'));
    withShortcut.dispose();
  });

  it("routerInit 'identical' gives every router one draw (the official code's shared initialiser); the default draws each its own", async () => {
    await initEngine('wasm');
    const columns = (options: Record<string, unknown>) => {
      const model = buildWrnPmoe({ wideningFactor: 1, classes: 4, ...WRN_PMOE_CIFAR, seed: 3, ...options });
      const router = (model.getLayer('moe') as PatchMoE).getWeights()[0].arraySync() as number[][];
      model.dispose();
      return router[0].map((_, s) => router.map((row) => row[s]));
    };
    const identical = columns({ routerInit: 'identical' });
    assert.equal(identical.length, 4);
    for (const column of identical) assert.deepEqual(column, identical[0]);
    const independent = columns({});
    assert.notDeepEqual(independent[1], independent[0]);
    assert.deepEqual(columns({ routerInit: 'independent' }), independent, "'independent' is the default");
    const std = Math.sqrt(identical[0].reduce((sum, v) => sum + v * v, 0) / identical[0].length);
    assert.ok(std > 0.5e-4 && std < 2e-4, `router std ${std}`);
  });

  it('WRN-pMoE saves and loads (model.json + weights.bin) with the same outputs and BN statistics', async () => {
    await initEngine('wasm');
    const model = buildWrnPmoe({ wideningFactor: 1, classes: 4, ...WRN_PMOE_CELEBA, seed: 5 });
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 2);
    // One training-mode pass moves the BN moving averages away from their initial values.
    tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-wrn-'));
    try {
      await saveModelFiles(model, dir);
      const loaded = await loadModelFiles(dir);
      const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
      assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
      assert.ok(loaded.getLayer('moe') instanceof PatchMoE);
      tf.dispose([a, b]);
      loaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
      x.dispose();
      model.dispose();
    }
  });

  it('counts trainable parameters as documented', async () => {
    await initEngine('wasm');
    const count = (model: tfl.LayersModel) => {
      const n = trainableParams(model);
      model.dispose();
      return n;
    };
    assert.equal(count(buildWideResNet({ wideningFactor: 1, classes: 10 })), 78186);
    assert.equal(count(buildWrnPmoe({ wideningFactor: 1, classes: 10, ...WRN_PMOE_CIFAR })), 43562);
    assert.equal(count(buildWideResNet({ wideningFactor: 1, classes: 2, inputSize: 64 })), 77666);
    assert.equal(count(buildWrnPmoe({ wideningFactor: 1, classes: 2, ...WRN_PMOE_CELEBA })), 83746);
    // The paper's size (w = 10), CelebA: the experts replace the 3x3 conv exactly; the model drops the
    // 1x1 shortcut 320->640 and gains 8 routers of 4*4*640.
    const wrn10 = count(buildWideResNet({ classes: 2, inputSize: 64 }));
    const pmoe10 = count(buildWrnPmoe({ classes: 2, ...WRN_PMOE_CELEBA }));
    assert.equal(wrn10, 7433602);
    assert.equal(wrn10 - pmoe10, 320 * 640 + 640 - 8 * 4 * 4 * 640);
  });

  it('refuses invalid options, naming option, value and what is allowed', async () => {
    await initEngine('cpu');
    const pmoe = (options: WrnPmoeOptions) => () => buildWrnPmoe({ wideningFactor: 1, ...options });
    assertRefused(pmoe({ ...WRN_PMOE_CELEBA, patchSize: 3 }), /patchSize/, '3', /tile the last feature map 16x16/);
    assertRefused(pmoe({ inputSize: 28, patchSize: 2 }), /patchSize/, '2', /tile the last feature map 7x7/);
    assertRefused(pmoe({ ...WRN_PMOE_CELEBA, patchesPerExpert: 17 }), /patchesPerExpert/, '17', /1\.\.16/);
    assertRefused(pmoe({ experts: 3 }), /experts/, '3', /must divide 64 \* wideningFactor = 64/);
    assertRefused(pmoe({ gate: 'top1' as never }), /gate/, "'top1'", /'softmax-selected', 'softmax-all', 'hard'/);
    assertRefused(pmoe({ kernelSize: 0 }), /kernelSize/, '0', /integer >= 1/);
    assertRefused(pmoe({ routerInitStd: -1 }), /routerInitStd/, '-1', />= 0/);
    assertRefused(pmoe({ wings: 2 } as never), /unknown option/, "'wings'", /unknown/);
    assertRefused(() => buildWideResNet({ wideningFactor: 0 }), /wideningFactor/, '0', /integer >= 1/);
    assertRefused(() => buildWideResNet({ classes: 1 }), /classes/, '1', /integer >= 2/);
    assertRefused(() => buildWideResNet({ batchNormMomentum: 1 }), /batchNormMomentum/, '1', />= 0 and < 1/);
    assertRefused(() => buildWideResNet({ patchSize: 2 } as never), /unknown option/, "'patchSize'", /unknown/);
  });

  const gradientCases: [string, (seed: number) => tfl.LayersModel, number][] = [
    ['WRN', (seed) => buildWideResNet({ wideningFactor: 1, classes: 3, inputSize: 16, seed }), 3],
    // CelebA-style experts (3x3 convs on 2x2 patches, k = 8, l = 2) and CIFAR-style (1x1 on 1x1, k = 4).
    [
      'WRN-pMoE, 3x3 experts',
      (seed) => buildWrnPmoe({ wideningFactor: 1, classes: 3, inputSize: 16, patchSize: 2, experts: 8, patchesPerExpert: 2, kernelSize: 3, seed }),
      3,
    ],
    [
      'WRN-pMoE, 1x1 experts',
      (seed) => buildWrnPmoe({ wideningFactor: 1, classes: 3, inputSize: 16, patchSize: 1, experts: 4, patchesPerExpert: 4, kernelSize: 1, seed }),
      3,
    ],
  ];
  for (const [what, build, classes] of gradientCases) {
    it(`${what}: gradients of every trainable weight on wasm match the cpu backend (BN in training mode)`, async () => {
      const rng = freshRng(`wrn-gradients-${what}`);
      const seed = rng.int(100000);
      // A batch large enough that batch norm's per-channel sums (8 x 16 x 16 terms in the first
      // blocks) lose digits when accumulated in float32 in order, as wasm's Sum once did.
      const batch = 8;
      const shape = [batch, 16, 16, 3];
      // Inputs whose ReLU pre-activations have the same signs on both backends (a new draw
      // otherwise: about 1 in 30 has one within rounding of 0, measured).
      let cpu: Awaited<ReturnType<typeof gradientsOn>> | undefined;
      let wasm: typeof cpu;
      for (let draw = 0; draw < 5 && !(cpu && wasm && relativeError(cpu.signs, wasm.signs) === 0); draw++) {
        const inputs = Float32Array.from({ length: batch * 16 * 16 * 3 }, () => rng.normal());
        const probe = Float32Array.from({ length: batch * classes }, () => rng.normal());
        cpu = await gradientsOn('cpu', () => build(seed), inputs, shape, probe);
        wasm = await gradientsOn('wasm', () => build(seed), inputs, shape, probe);
      }
      assert.ok(cpu && wasm && relativeError(cpu.signs, wasm.signs) === 0, 'five draws with a ReLU input on different sides of 0 on the two backends');
      assert.equal(cpu.grads.length, wasm.grads.length);
      cpu.weights.forEach((w, i) => assert.equal(relativeError(wasm.weights[i], w), 0, `same initial ${cpu.names[i]}`));
      assert.ok(Math.abs(cpu.value - wasm.value) <= 1e-3 * Math.max(1, Math.abs(cpu.value)), `value ${cpu.value} vs ${wasm.value}`);
      // Conv biases feed a BatchNormalization (directly or through shortcuts), whose batch statistics
      // remove any per-channel constant: their exact gradient is 0 and both backends give ~1e-7 noise.
      // Each weight is therefore compared on max(its own scale, 1e-2 x the largest gradient).
      const scales = cpu.grads.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      const floor = 1e-2 * Math.max(...scales);
      cpu.grads.forEach((g, i) => {
        let diff = 0;
        for (let j = 0; j < g.length; j++) diff = Math.max(diff, Math.abs(wasm.grads[i][j] - g[j]));
        const err = diff / Math.max(scales[i], floor);
        assert.ok(err < 1e-4, `${cpu.names[i]}: relative error ${err.toExponential(2)} (gradient scale ${scales[i].toExponential(2)})`);
      });
      // The routers learn through the gates; every expert and every conv kernel gets a real gradient.
      const learning = cpu.names.filter((name, i) => /kernel|gamma|beta/.test(name) && scales[i] > floor);
      assert.deepEqual(
        learning,
        cpu.names.filter((name) => /kernel|gamma|beta/.test(name)),
      );
      if (what.includes('pMoE')) assert.ok(cpu.names.some((name) => name.includes('router/kernel')));
    });
  }
});
