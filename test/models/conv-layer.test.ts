import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { LazyGradientConv2D } from '../../src/models/conv-layer.js';
import { restoreKernels, useFastKernels } from '../../src/ops/fast-kernels.js';
import { freshRng } from '../support/random.js';

/** Output, gradients (kernel, bias, and x where watched) and the kernels the backward pass ran. */
async function pass(layer: tfl.layers.Layer, input: tf.Tensor4D, probe: () => tf.Tensor, watchInput: boolean) {
  const x = watchInput ? tf.variable(input) : input;
  const output = Array.from((layer.apply(input) as tf.Tensor).dataSync());
  const variables = [...(watchInput ? [x as tf.Variable] : []), ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
  let grads: tf.NamedTensorMap = {};
  const profile = await tf.profile(() => {
    const result = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, probe())) as tf.Scalar, variables);
    result.value.dispose();
    grads = result.grads;
  });
  const values = variables.map((v) => Array.from(grads[v.name].dataSync()));
  tf.dispose(Object.values(grads));
  if (watchInput) x.dispose();
  return { output, values, inputGradients: profile.kernels.filter((k) => k.name === 'Conv2DBackpropInput').length };
}

describe('LazyGradientConv2D (tfjs-layers Conv2D running FusedConv2D with a lazy gradient)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`gives tfjs's outputs and gradients to the bit on ${backend}, and skips the input gradient when the input is not watched`, async () => {
      await initEngine(backend);
      const rng = freshRng(`conv-layer-${backend}`);
      for (let trial = 0; trial < 6; trial++) {
        const kernelSize = [1, 3][rng.int(2)];
        const strides = 1 + rng.int(2);
        const padding = (['same', 'valid'] as const)[rng.int(2)];
        const [batch, size, channels, filters] = [1 + rng.int(3), 5 + rng.int(4), 1 + rng.int(5), 4 * (1 + rng.int(3))];
        const args = { filters, kernelSize, strides, padding, name: `conv_${trial}` };
        const stock = tfl.layers.conv2d(args);
        const lazy = new LazyGradientConv2D(args);
        const input = tf.randomNormal([batch, size, size, channels], 0, 1, 'float32', rng.int(1e6)) as tf.Tensor4D;
        stock.apply(input);
        lazy.apply(input);
        lazy.setWeights(stock.getWeights().map((w) => tf.randomNormal(w.shape, 0, 1, 'float32', rng.int(1e6))));
        stock.setWeights(lazy.getWeights());
        const outShape = stock.computeOutputShape(input.shape) as number[];
        const probeValues = tf.randomNormal(outShape, 0, 1, 'float32', rng.int(1e6));
        const probe = () => probeValues;
        const what = `${backend}: x [${input.shape}], ${kernelSize}x${kernelSize}, stride ${strides}, ${padding}, ${filters} filters`;
        for (const watchInput of [true, false]) {
          const expected = await pass(stock, input, probe, watchInput);
          const actual = await pass(lazy, input, probe, watchInput);
          assert.deepEqual(actual.output, expected.output, `${what}: output`);
          assert.deepEqual(actual.values, expected.values, `${what}: gradients (input watched: ${watchInput})`);
          // tfjs's fused op computes the input gradient either way; the lazy one only when asked.
          assert.equal(expected.inputGradients, 1, what);
          assert.equal(actual.inputGradients, watchInput ? 1 : 0, `${what}: input gradients run (input watched: ${watchInput})`);
        }
        tf.dispose([input, probeValues]);
        stock.dispose();
        lazy.dispose();
      }
    });
  }

  it("runs tfjs-layers' own path, and still trains, where pmoe's kernels are not installed", async () => {
    await initEngine('cpu');
    const layer = new LazyGradientConv2D({ filters: 4, kernelSize: 3, padding: 'same' });
    const input = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const probe = tf.randomNormal([2, 5, 5, 4], 0, 1, 'float32', 8);
    const installed = await pass(layer, input, () => probe, false);
    restoreKernels();
    try {
      const plain = await pass(layer, input, () => probe, false);
      assert.deepEqual(plain.values, installed.values);
      assert.equal(plain.inputGradients, 1, "tfjs's fused op");
    } finally {
      await useFastKernels();
      tf.dispose([input, probe]);
      layer.dispose();
    }
  });
});
