import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../../src/engine/backend.js';
import { convFilterGradient, convForward, convGeometry, convInputGradient, type ConvGeometry } from '../../src/kernels/conv-gemm.js';
import { convAlgorithm, convSetting } from '../../src/kernels/convolution.js';
import { winogradFilterGradient, winogradForward, winogradInputGradient } from '../../src/kernels/winograd-conv.js';
import { freshRng, gaussian } from '../support/random.js';

const geometry = (x: [number, number, number, number], filter: [number, number, number, number], strides: number, pad: 'same' | 'valid'): ConvGeometry =>
  convGeometry(tf.backend_util.computeConv2DInfo(x, filter, strides, 1, pad))!;

const saved = process.env.PMOE_CONV;
afterEach(() => {
  if (saved === undefined) delete process.env.PMOE_CONV;
  else process.env.PMOE_CONV = saved;
});

describe('convolution.ts: which algorithm each pass runs', () => {
  test('PMOE_CONV takes auto, direct, winograd2 and winograd4 (unset: auto) and refuses anything else, naming the variable and the value', () => {
    assert.equal(convSetting(undefined), 'auto');
    assert.equal(convSetting(''), 'auto');
    for (const value of ['auto', 'direct', 'winograd2', 'winograd4']) assert.equal(convSetting(value), value);
    assert.throws(() => convSetting('fast'), /PMOE_CONV must be one of auto, direct, winograd2, winograd4 \(unset: auto\); got "fast"/);
  });

  test("the Wide-ResNets' 3x3 stride-1 layers: F(2x2, 3x3) forward (direct on the stems' 1 or 3 channels), F(4x4, 3x3) gradients; stride 2, 1x1 and PMOE_CONV=direct: the direct products", () => {
    delete process.env.PMOE_CONV;
    const layers = [
      geometry([32, 32, 32, 16], [3, 3, 16, 16], 1, 'same'),
      geometry([32, 16, 16, 32], [3, 3, 32, 32], 1, 'same'),
      geometry([32, 8, 8, 64], [3, 3, 64, 64], 1, 'same'),
    ];
    for (const g of layers) {
      assert.equal(convAlgorithm(g, 'forward'), 'winograd2');
      assert.equal(convAlgorithm(g, 'inputGradient'), 'winograd4');
      assert.equal(convAlgorithm(g, 'filterGradient'), 'winograd4');
    }
    for (const channels of [1, 3]) {
      const stem = geometry([32, 32, 32, channels], [3, 3, channels, 16], 1, 'same');
      assert.equal(convAlgorithm(stem, 'forward'), 'direct');
      assert.equal(convAlgorithm(stem, 'filterGradient'), 'winograd4');
    }
    for (const g of [geometry([32, 32, 32, 16], [3, 3, 16, 32], 2, 'same'), geometry([32, 32, 32, 16], [1, 1, 16, 32], 2, 'valid')]) {
      for (const pass of ['forward', 'inputGradient', 'filterGradient'] as const) assert.equal(convAlgorithm(g, pass), 'direct');
    }
    process.env.PMOE_CONV = 'direct';
    for (const g of layers) for (const pass of ['forward', 'inputGradient', 'filterGradient'] as const) assert.equal(convAlgorithm(g, pass), 'direct');
    process.env.PMOE_CONV = 'winograd2';
    assert.equal(convAlgorithm(layers[0], 'filterGradient'), 'winograd2');
  });

  for (const setting of ['direct', 'auto'] as const) {
    test(`through tfjs's kernels on wasm (conv2d and its gradients), PMOE_CONV=${setting} gives ${setting === 'direct' ? 'the direct products' : "Winograd's (F(2x2) forward, F(4x4) gradients)"} floats, bit for bit`, async () => {
      process.env.PMOE_CONV = setting;
      await initEngine('wasm');
      const backend = tf.backend() as BackendWasm;
      const rng = freshRng(`convolution PMOE_CONV=${setting}`);
      const [xShape, fShape] = [
        [4, 12, 12, 16],
        [3, 3, 16, 8],
      ] as [number[], number[]];
      const x = tf.tensor4d(Float32Array.from(gaussian(rng, 4 * 12 * 12 * 16)), xShape as [number, number, number, number]);
      const f = tf.tensor4d(Float32Array.from(gaussian(rng, 9 * 16 * 8, 0.1)), fShape as [number, number, number, number]);
      const dy = tf.tensor4d(Float32Array.from(gaussian(rng, 4 * 12 * 12 * 8)), [4, 12, 12, 8]);
      const g = geometry([4, 12, 12, 16], [3, 3, 16, 8], 1, 'same');
      const viaTfjs = {
        forward: tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same').dataSync(),
        // d(sum(conv(x, f) dy)) / dx and / df: the input and filter gradients of dy.
        ...(() => {
          const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), dy)))([x, f]);
          return { inputGradient: dx.dataSync(), filterGradient: df.dataSync() };
        })(),
      };
      const read = (info: tf.TensorInfo | null) => {
        assert.ok(info);
        const values = (backend.typedArrayFromHeap(info) as Float32Array).slice();
        backend.disposeData(info.dataId);
        return values;
      };
      const kernels =
        setting === 'direct'
          ? {
              forward: read(convForward(backend, x, f, undefined, g)),
              inputGradient: read(convInputGradient(backend, dy, f, g)),
              filterGradient: read(convFilterGradient(backend, x, dy, g)),
            }
          : {
              forward: read(winogradForward(backend, x, f, undefined, g, 2)),
              inputGradient: read(winogradInputGradient(backend, dy, f, g, 4)),
              filterGradient: read(winogradFilterGradient(backend, x, dy, g, 4)),
            };
      for (const pass of ['forward', 'inputGradient', 'filterGradient'] as const) {
        assert.deepEqual(Float32Array.from(viaTfjs[pass]), kernels[pass], `${pass}: tfjs's kernel did not run the ${setting} algorithm`);
      }
      tf.dispose([x, f, dy]);
    });
  }
});
