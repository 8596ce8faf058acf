import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { buildWrnModel, resolveWrnModel, trainableParams, type WrnModelSpec } from '../../src/models/wide-resnet.js';

const fixed = { classes: 4, inputSize: 32, channels: 1, seed: 3 };

describe("an image run's model spec", () => {
  it('fills the defaults and takes classes, input size, channels and seed from the run', async () => {
    await initEngine('wasm');
    const config = resolveWrnModel({ architecture: 'wrn-pmoe', wideningFactor: 1 }, fixed);
    assert.equal(config.architecture, 'wrn-pmoe');
    if (config.architecture !== 'wrn-pmoe') return;
    assert.deepEqual([config.classes, config.inputSize, config.channels, config.seed], [4, 32, 1, 3]);
    assert.deepEqual(
      [config.experts, config.patchesPerExpert, config.patchSize, config.kernelSize, config.gate, config.batchNormMomentum],
      [4, 16, 1, 1, 'softmax-all', 0.99],
    );
    const model = buildWrnModel(config);
    assert.deepEqual(model.inputs[0].shape, [null, 32, 32, 1]);
    assert.deepEqual(model.outputs[0].shape, [null, 4]);
    // The w = 1 CIFAR-style WRN-pMoE of wide-resnet.ts (43,562 with 3 channels and 10 classes) less
    // the stem's 2 input channels (2 x 9 x 16) and the head's 6 classes (6 x 65).
    assert.equal(trainableParams(model), 43_562 - 2 * 9 * 16 - 6 * 65);
    model.dispose();
  });

  it('refuses what the run fixes, options of the other architecture and unknown architectures, naming the option', () => {
    assert.throws(() => resolveWrnModel({ architecture: 'wrn', classes: 10 } as WrnModelSpec, fixed), /model\.classes: set by the run .* \(got 10\)/);
    assert.throws(() => resolveWrnModel({ architecture: 'wrn', experts: 4 } as WrnModelSpec, fixed), /model: unknown option 'experts'/);
    assert.throws(
      () => resolveWrnModel({ architecture: 'resnet' } as unknown as WrnModelSpec, fixed),
      /model\.architecture: must be one of 'wrn', 'wrn-pmoe' \(got "resnet"\)/,
    );
    assert.throws(
      () => resolveWrnModel({ architecture: 'wrn-pmoe', wideningFactor: 1, patchSize: 3 }, fixed),
      /model\.patchSize: must tile the last feature map 8x8/,
    );
  });
});
