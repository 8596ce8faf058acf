import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { freshRng, gaussian } from '../support/random.js';

describe("ReLU's gradient on wasm (one SIMD pass)", () => {
  for (const shape of [[8, 6, 6, 16], [7, 3], [5]]) {
    it(`equals dy * step(x), exactly, for x of shape [${shape}] with exact zeros in x`, async () => {
      await initEngine('wasm');
      const rng = freshRng(`relu-gradient ${shape}`);
      const size = shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from(gaussian(rng, size), (v, i) => (i % 7 === 0 ? 0 : v));
      const dy = Float32Array.from(gaussian(rng, size));
      const expected = Float32Array.from(x, (v, i) => (v > 0 ? dy[i] : 0));
      const before = tf.memory().numTensors;
      const actual = tf.tidy(() => {
        const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), tf.tensor(dy, shape))))([tf.tensor(x, shape)]);
        return dx.dataSync().slice();
      });
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      assert.deepEqual(Array.from(actual), Array.from(expected));
    });
  }
});
