import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { modelFlops } from '../../src/analysis/flops.js';
import { initEngine } from '../../src/engine/backend.js';
import { buildWideResNet, buildWrnPmoe, WRN_PMOE_CELEBA, WRN_PMOE_CIFAR } from '../../src/models/wide-resnet.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';

function single(layer: tfl.layers.Layer, inputShape: number[]): tfl.LayersModel {
  const input = tfl.input({ shape: inputShape });
  return tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
}

describe('modelFlops', () => {
  it('counts a single conv by hand: 2 * Hout * Wout * kh * kw * Cin * Cout per image, backward twice that', async () => {
    await initEngine('cpu');
    const model = single(tfl.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same' }), [8, 8, 3]);
    const flops = modelFlops(model, 3);
    const perImage = 2 * 4 * 4 * 3 * 3 * 3 * 5;
    assert.equal(flops.forward, 3 * perImage);
    assert.equal(flops.backward, 2 * 3 * perImage);
    assert.equal(flops.trainStep, 9 * perImage);
    const conv = flops.perLayer.find((l) => l.className === 'Conv2D')!;
    assert.match(conv.formula, /conv 3x3 3->5 stride 2 on 8x8 -> 4x4/);
    assert.equal(conv.params, 3 * 3 * 3 * 5 + 5);
    model.dispose();
  });

  it('counts a dense layer (2 * inputs * units) and leaves BN, ReLU and pooling at 0', async () => {
    await initEngine('cpu');
    const input = tfl.input({ shape: [7] });
    const bn = tfl.layers.batchNormalization().apply(input) as tfl.SymbolicTensor;
    const relu = tfl.layers.reLU().apply(bn) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 4 }).apply(relu) as tfl.SymbolicTensor });
    const flops = modelFlops(model);
    assert.equal(flops.forward, 2 * 7 * 4);
    assert.deepEqual(
      flops.perLayer.map((l) => [l.className, l.forward]),
      [
        ['InputLayer', 0],
        ['BatchNormalization', 0],
        ['ReLU', 0],
        ['Dense', 56],
      ],
    );
    model.dispose();
  });

  it('counts a tiny PatchMoE on its gathered patches only: routers 2 n P C k + experts k l patch convs', async () => {
    await initEngine('cpu');
    const model = single(new PatchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 3, filtersPerExpert: 3, kernelSize: 3 }), [4, 4, 2]);
    const flops = modelFlops(model, 2);
    const n = 4;
    const routers = 2 * n * (2 * 2 * 2) * 2; // 128
    const experts = 2 * 3 * (2 * 2 * 2 * 3 * 3 * 2 * 3); // k * l * (2 * ph * pw * ks * ks * C * f) = 2592
    const moe = flops.perLayer.find((l) => l.className === 'PatchMoE')!;
    assert.deepEqual(moe.parts, { routers: 2 * routers, experts: 2 * experts });
    assert.equal(flops.forward, 2 * (routers + experts));
    assert.equal(flops.backward, 2 * flops.forward);
    model.dispose();
  });

  it('counts the official formulation densely: routers as sparse, experts k convs over the whole map (n / l times the sparse experts)', async () => {
    await initEngine('cpu');
    const model = single(
      new PatchMoE({ patchSize: 2, experts: 2, patchesPerExpert: 3, filtersPerExpert: 3, kernelSize: 3, formulation: 'official' }),
      [4, 4, 2],
    );
    const moe = modelFlops(model, 2).perLayer.find((l) => l.className === 'PatchMoE')!;
    const routers = 2 * 4 * (2 * 2 * 2) * 2;
    const experts = 2 * (2 * 4 * 4 * 3 * 3 * 2 * 3); // k * (2 * H * W * ks * ks * C * f) = 3456
    assert.deepEqual(moe.parts, { routers: 2 * routers, experts: 2 * experts });
    assert.match(moe.formula, /2 convs 3x3 2->3 over the whole map \(official formulation\)/);
    assert.equal(experts / (2 * 3 * (2 * 2 * 2 * 3 * 3 * 2 * 3)), 4 / 3, 'n / l = 4 / 3 times the sparse count');
    model.dispose();
  });

  it('refuses a layer with weights and no rule, naming it', async () => {
    await initEngine('cpu');
    const model = single(tfl.layers.conv1d({ filters: 2, kernelSize: 3, name: 'odd_conv' }), [8, 3]);
    assert.throws(() => modelFlops(model), /layer 'odd_conv' of class Conv1D has 20 trainable parameters and no FLOP rule/);
    model.dispose();
  });

  it("WRN-pMoE / WRN at the paper's CelebA size (w = 10, 64x64) is the hand count, about 0.78", async () => {
    await initEngine('wasm');
    const conv = (h: number, k: number, cin: number, cout: number) => 2 * h * h * k * k * cin * cout;
    // The WRN by hand: stem, block1 (16 -> 160, 1x1 projection), block2 (stride 2), block3 (stride 2), dense.
    const shared =
      conv(64, 3, 3, 16) +
      conv(64, 3, 16, 160) +
      conv(64, 3, 160, 160) +
      conv(64, 1, 16, 160) +
      conv(32, 3, 160, 320) +
      conv(32, 3, 320, 320) +
      conv(32, 1, 160, 320) +
      conv(16, 3, 320, 640) +
      2 * 640 * 2;
    const wrnHand = shared + conv(16, 3, 640, 640) + conv(16, 1, 320, 640);
    // pMoE: 16 patches of 4x4x640 scored by 8 routers; 8 experts x 2 patches, 3x3 conv 640 -> 80 on a 4x4 patch.
    const moeHand = 2 * 16 * (4 * 4 * 640) * 8 + 8 * 2 * (2 * 4 * 4 * 3 * 3 * 640 * 80);
    const pmoeHand = shared + moeHand;

    const wrn = buildWideResNet({ classes: 2, inputSize: 64 });
    const pmoe = buildWrnPmoe({ classes: 2, ...WRN_PMOE_CELEBA });
    const a = modelFlops(wrn);
    const b = modelFlops(pmoe);
    assert.equal(a.forward, wrnHand);
    assert.equal(b.forward, pmoeHand);
    const ratio = b.forward / a.forward;
    assert.ok(Math.abs(ratio - pmoeHand / wrnHand) < 1e-12);
    assert.ok(ratio > 0.77 && ratio < 0.79, `ratio ${ratio}`);
    // Every parameterised layer's backward is twice its forward, so the step ratio is the same.
    assert.ok(Math.abs(b.trainStep / a.trainStep - ratio) < 1e-12);
    process.stdout.write(
      `# CelebA w=10: WRN ${(a.forward / 1e9).toFixed(3)} GFLOP/image forward, WRN-pMoE ${(b.forward / 1e9).toFixed(3)}, ratio ${ratio.toFixed(4)}\n`,
    );
    wrn.dispose();
    pmoe.dispose();
  });

  it('CIFAR-style WRN-pMoE (1x1 experts) costs a fraction of the replaced 3x3 conv', async () => {
    await initEngine('wasm');
    const wrn = buildWideResNet({ wideningFactor: 1, classes: 10 });
    const pmoe = buildWrnPmoe({ wideningFactor: 1, classes: 10, ...WRN_PMOE_CIFAR });
    const moe = modelFlops(pmoe, 32).perLayer.find((l) => l.className === 'PatchMoE')!;
    // n = 64 patches of 1x1x64, k = 4, l = 16, 1x1 experts 64 -> 16: routers 2*64*64*4, experts 4*16*2*64*16.
    assert.equal(moe.forward, 32 * (2 * 64 * 64 * 4 + 4 * 16 * 2 * 64 * 16));
    assert.ok(modelFlops(pmoe).forward < modelFlops(wrn).forward);
    // The official formulation: the same routers, the 4 experts over all 64 positions (n / l = 4 times the sparse experts).
    const official = buildWrnPmoe({ wideningFactor: 1, classes: 10, ...WRN_PMOE_CIFAR, formulation: 'official' });
    const dense = modelFlops(official, 32).perLayer.find((l) => l.className === 'PatchMoE')!;
    assert.deepEqual(dense.parts, { routers: 32 * 2 * 64 * 64 * 4, experts: 32 * 4 * 64 * 2 * 64 * 16 });
    wrn.dispose();
    pmoe.dispose();
    official.dispose();
  });
});
