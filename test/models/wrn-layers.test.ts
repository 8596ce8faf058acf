import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from '../../src/engine/backend.js';
import { buildWrnModel, resolveWrnModel, WRN_PMOE_CELEBA, WRN_PMOE_CIFAR, type WrnModelSpec } from '../../src/models/wide-resnet.js';
import { describeWrnModel, IMAGES, type ImageLayerSpec } from '../../src/models/wrn-layers.js';

/** The weights (name and shape) a layer description promises for each layer. */
function promisedWeights(layer: ImageLayerSpec): [string, number[]][] {
  switch (layer.kind) {
    case 'conv': {
      const [, , inChannels] = layer.inputShape;
      const filters = layer.outputShape[2];
      return [
        [`${layer.name}/kernel`, [layer.kernelSize, layer.kernelSize, inChannels, filters]],
        [`${layer.name}/bias`, [filters]],
      ];
    }
    case 'bn-relu':
      return ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => [`${layer.name}_bn/${w}`, [layer.outputShape[2]]]);
    case 'patch-moe': {
      const channels = layer.inputShape[2];
      const experts = Array.from({ length: layer.experts }, (_, s): [string, number[]][] => [
        [`${layer.name}/expert${s}/kernel`, [layer.kernelSize, layer.kernelSize, channels, layer.filtersPerExpert]],
        [`${layer.name}/expert${s}/bias`, [layer.filtersPerExpert]],
        ...(layer.expertBatchNorm === null
          ? []
          : ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w): [string, number[]] => [`${layer.name}/expert${s}_bn/${w}`, [channels]])),
      ]);
      return [[`${layer.name}/router/kernel`, [layer.patch.height * layer.patch.width * channels, layer.experts]], ...experts.flat()];
    }
    case 'dense':
      return [
        [`${layer.name}/kernel`, [layer.inputUnits, layer.outputShape[0]]],
        [`${layer.name}/bias`, [layer.outputShape[0]]],
      ];
    default:
      return [];
  }
}

const FIXED = { classes: 4, inputSize: 32, channels: 1, seed: 1 } as const;
const { inputSize: _cifar, ...CIFAR } = WRN_PMOE_CIFAR;
const { inputSize: _celeba, ...CELEBA } = WRN_PMOE_CELEBA;

describe('the image models described once (models/wrn-layers.ts)', () => {
  const specs: [string, WrnModelSpec, { inputSize?: number; classes?: number }][] = [
    ['WRN w = 1', { architecture: 'wrn', wideningFactor: 1 }, {}],
    ['WRN w = 2', { architecture: 'wrn', wideningFactor: 2 }, {}],
    ['WRN-pMoE CIFAR', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CIFAR }, {}],
    ['WRN-pMoE CelebA with shortcut', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CELEBA, shortcut: true }, { inputSize: 64 }],
    ['WRN-pMoE CIFAR, official formulation', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CIFAR, formulation: 'official' }, {}],
    ['WRN-pMoE CelebA, official formulation', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CELEBA, formulation: 'official' }, { inputSize: 64 }],
    ['WRN, sigmoid head (binary)', { architecture: 'wrn', wideningFactor: 1, head: 'sigmoid' }, { classes: 2 }],
    ['WRN-pMoE CelebA, sigmoid head (binary)', { architecture: 'wrn-pmoe', wideningFactor: 1, ...CELEBA, head: 'sigmoid' }, { inputSize: 64, classes: 2 }],
  ];
  for (const [label, spec, fixed] of specs) {
    it(`${label}: the tfjs model has every promised weight with its shape, and every layer's output shape`, async () => {
      await initEngine('cpu');
      const config = resolveWrnModel(spec, { ...FIXED, ...fixed });
      const description = describeWrnModel(config);
      const model = buildWrnModel(config);
      const actual = new Map(model.weights.map((w) => [w.originalName, w.shape as number[]]));
      const promised = description.layers.flatMap(promisedWeights);
      assert.deepEqual(new Map(promised), actual);
      // Forward order: every layer reads only the images or layers before it.
      const seen = new Set([IMAGES]);
      for (const layer of description.layers) {
        for (const input of layer.inputs) assert.ok(seen.has(input), `${layer.name} reads ${input} before it exists`);
        seen.add(layer.name);
        const tfName = layer.kind === 'bn-relu' ? `${layer.name}_relu` : layer.name;
        assert.deepEqual(model.getLayer(tfName).outputShape, [null, ...layer.outputShape], layer.name);
      }
      const logits = description.layers.at(-1)!;
      assert.deepEqual(model.outputs[0].shape, [null, spec.head === 'sigmoid' ? 1 : description.classes]);
      assert.deepEqual(model.outputs[0].shape, [null, ...logits.outputShape]);
      assert.deepEqual((model.inputs[0] as tfl.SymbolicTensor).shape, [null, ...description.inputShape]);
    });
  }
});
