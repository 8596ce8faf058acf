import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { movingAverage, movingAveragePlain } from '../../src/ops/moving-average.js';
import { freshRng } from '../support/random.js';

describe('movingAverage (ops/moving-average.ts)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: the same floats as tfjs-layers' three ops, as one kernel that saves nothing for a gradient`, async () => {
      await initEngine(backend);
      const rng = freshRng(`moving-average ${backend}`);
      for (const size of [1, 16, 37]) {
        const momentum = rng.next();
        const moving = tf.tensor1d(Float32Array.from({ length: size }, () => rng.normal() * 10));
        const value = tf.tensor1d(Float32Array.from({ length: size }, () => rng.normal()));
        const fused = movingAverage(moving, value, momentum);
        const plain = movingAveragePlain(moving, value, momentum);
        assert.deepEqual(fused.dataSync(), plain.dataSync(), `size ${size}, momentum ${momentum}`);
        // Within a gradient tape, as batch norm runs it: one kernel, no clones of saved inputs.
        const x = tf.variable(tf.scalar(1));
        const profile = await tf.profile(() => {
          const { value: loss, grads } = tf.variableGrads(() => {
            tf.dispose(movingAverage(moving, value, momentum));
            return tf.square(x);
          }, [x]);
          tf.dispose([loss, ...Object.values(grads)]);
        });
        assert.equal(profile.kernels.filter((k) => k.name === 'PmoeMovingAverage').length, 1);
        assert.equal(profile.kernels.filter((k) => k.name === 'Identity' && k.inputShapes[0]?.[0] === size).length, 0, 'no clones of the statistics');
        tf.dispose([moving, value, fused, plain, x]);
      }
    });
  }
});
