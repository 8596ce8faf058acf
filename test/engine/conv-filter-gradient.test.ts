import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { filterGradientByProducts } from '../../src/engine/webgpu/conv-filter-gradient.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

type Pad = tf.Conv2DBackpropFilterAttrs['pad'];

describe('webgpu filter gradient as im2col products (composed of the backend kernels; checked on cpu)', () => {
  it("equals tfjs's Conv2DBackpropFilter on fresh random convolutions, whole batch and in chunks, and leaks nothing", async () => {
    await initEngine('cpu');
    const rng = freshRng('conv-filter-gradient');
    const backend = tf.backend();
    for (let trial = 0; trial < 24; trial++) {
      const kh = 1 + rng.int(3);
      let kw = 1 + rng.int(3);
      const strides: [number, number] = [1 + rng.int(2), 1 + rng.int(2)];
      const pads: Pad[] = [
        'same',
        'valid',
        rng.int(2),
        [
          [0, 0],
          [rng.int(2), rng.int(2)],
          [rng.int(2), rng.int(2)],
          [0, 0],
        ],
      ];
      const pad = pads[rng.int(pads.length)];
      // tfjs sizes a numeric pad's output with the filter's height and stride on both axes; square here.
      if (typeof pad === 'number') [kw, strides[1]] = [kh, strides[0]];
      const [batch, height, width, ci, co] = [1 + rng.int(5), kh + rng.int(7), kw + rng.int(7), 1 + rng.int(5), 1 + rng.int(5)];
      const filterShape: [number, number, number, number] = [kh, kw, ci, co];
      const info = tf.backend_util.computeConv2DInfo([batch, height, width, ci], filterShape, strides, 1, pad, undefined, false, 'channelsLast');
      const x = tf.randomNormal([batch, height, width, ci], 0, 1, 'float32', rng.int(1e6));
      const dy = tf.randomNormal([batch, info.outHeight, info.outWidth, co], 0, 1, 'float32', rng.int(1e6));
      const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape };
      const expected = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      const what = `x [${x.shape}], filter [${filterShape}], strides ${strides}, pad ${JSON.stringify(pad)}`;
      // Whole batch, one sample per chunk, and chunks that leave a remainder.
      const rowFloats = info.outHeight * info.outWidth * kh * kw * ci;
      for (const floats of [1 << 26, rowFloats, 2 * rowFloats + 1]) {
        const tensorsBefore = tf.memory().numTensors;
        const idsBefore = backend.numDataIds();
        const result = filterGradientByProducts({ inputs: { x, dy }, backend, attrs: attrs as unknown as tf.NamedAttrMap }, floats)!;
        assert.deepEqual(result.shape, filterShape, what);
        assert.equal(backend.numDataIds(), idsBefore + 1, `${what}: only the result is left`);
        const values = backend.readSync(result.dataId) as Float32Array;
        backend.disposeData(result.dataId);
        assert.equal(tf.memory().numTensors, tensorsBefore);
        assert.ok(relativeError(values, expected.dataSync()) < 1e-5, `${what}, ${floats} floats per block: ${relativeError(values, expected.dataSync())}`);
      }
      tf.dispose([x, dy, expected]);
    }
  });

  it("leaves channels-first convolutions, and numeric pads whose taps tfjs's sizing puts past the input, to the backend", async () => {
    await initEngine('cpu');
    const x = tf.zeros([1, 2, 4, 4]);
    const dy = tf.zeros([1, 2, 4, 4]);
    const channelsFirst = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] } as unknown as tf.NamedAttrMap;
    assert.equal(filterGradientByProducts({ inputs: { x, dy }, backend: tf.backend(), attrs: channelsFirst }), undefined);
    // x [3, 2, 7, 1], filter 2x2, strides [1, 2], pad 1: tfjs gives 8 output columns, which would need 16 padded ones.
    const wide = tf.zeros([3, 2, 7, 1]);
    const wideDy = tf.zeros([3, 3, 8, 1]);
    const numeric = { strides: [1, 2], pad: 1, dataFormat: 'NHWC', filterShape: [2, 2, 1, 1] } as unknown as tf.NamedAttrMap;
    assert.equal(filterGradientByProducts({ inputs: { x: wide, dy: wideDy }, backend: tf.backend(), attrs: numeric }), undefined);
    tf.dispose([x, dy, wide, wideDy]);
  });
});
