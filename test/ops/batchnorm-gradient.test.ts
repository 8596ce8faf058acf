import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { freshRng } from '../support/random.js';

/** The plain formulation from elementary ops, differentiated by tfjs's autodiff. */
function plainBatchNorm(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, offset: tf.Tensor, scale: tf.Tensor, epsilon: number) {
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), scale), offset);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`batch-norm gradient on ${backend}`, () => {
    for (const shape of [
      [3, 5, 4, 6],
      [7, 3],
      [2, 3, 3, 1],
    ]) {
      it(`matches the plain formulation's autodiff for x of shape [${shape}]`, async () => {
        await initEngine(backend);
        const rng = freshRng(`batchnorm-${backend}-${shape}`);
        const channels = shape[shape.length - 1];
        const seed = () => rng.int(1e6);
        const x = tf.randomNormal(shape, 0, 1, 'float32', seed());
        const mean = tf.randomNormal([channels], 0, 1, 'float32', seed());
        const variance = tf.add(tf.randomUniform([channels], 0.2, 2, 'float32', seed()), 0);
        const offset = tf.randomNormal([channels], 0, 1, 'float32', seed());
        const scale = tf.randomNormal([channels], 0, 1, 'float32', seed());
        const probe = tf.randomNormal(shape, 0, 1, 'float32', seed());
        const epsilon = 1e-3;
        const loss = (f: typeof plainBatchNorm) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
          tf.sum(tf.mul(f(a, b, c, d, e, epsilon), probe));
        const fused = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => tf.batchNorm(a, b, c, d, e, epsilon);
        const inputs = [x, mean, variance, offset, scale];
        const expected = tf.grads(loss(plainBatchNorm))(inputs);
        const actual = tf.grads(loss(fused))(inputs);
        ['x', 'mean', 'variance', 'offset', 'scale'].forEach((name, i) => {
          const e = expected[i].dataSync();
          const a = actual[i].dataSync();
          assert.deepEqual(actual[i].shape, expected[i].shape, name);
          const scaleOf = Math.max(1, ...Array.from(e, Math.abs));
          e.forEach((v, j) => assert.ok(Math.abs(v - a[j]) <= 1e-4 * scaleOf, `${name}[${j}]: ${a[j]} vs ${v}`));
        });
        tf.dispose([...inputs, probe, ...expected, ...actual]);
      });
    }
  });
}
