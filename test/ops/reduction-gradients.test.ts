import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { restoreKernels, useFastKernels } from '../../src/ops/fast-kernels.js';
import { freshRng } from '../support/random.js';

describe('the gradients of Sum and Mean (a broadcast on the backend)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`equal tfjs's own to the bit on ${backend}, for fresh random shapes and axes, keepDims or not, and leak nothing`, async () => {
      await initEngine(backend);
      const rng = freshRng(`reduction-gradients-${backend}`);
      for (let trial = 0; trial < 12; trial++) {
        const rank = 1 + rng.int(4);
        const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
        const axes = Array.from({ length: rank }, (_, i) => i).filter(() => rng.int(2) === 0);
        // A negative axis, a single axis, or all of them (axis null).
        const axis = axes.length === 0 ? null : axes.length === 1 ? axes[0] - rank : axes;
        const keepDims = rng.int(2) === 1;
        const x = tf.randomNormal(shape, 0, 1, 'float32', rng.int(1e6));
        const outShape = tf.tidy(() => tf.sum(x, axis ?? undefined, keepDims).shape);
        const probe = tf.randomNormal(outShape, 0, 1, 'float32', rng.int(1e6));
        const gradients = () =>
          (['sum', 'mean'] as const).map((op) =>
            tf.tidy(() =>
              tf
                .grad((a: tf.Tensor) => tf.sum(tf.mul(tf[op](a, axis ?? undefined, keepDims), probe)))(x)
                .dataSync()
                .slice(),
            ),
          );
        restoreKernels();
        const stockConfigs = [tf.getGradient('Sum'), tf.getGradient('Mean')];
        const stock = gradients();
        await useFastKernels();
        assert.ok(tf.getGradient('Sum') !== stockConfigs[0] && tf.getGradient('Mean') !== stockConfigs[1], "pmoe's gradients are installed");
        const before = tf.memory().numTensors;
        const ours = gradients();
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        const what = `shape [${shape}], axis ${JSON.stringify(axis)}, keepDims ${keepDims}`;
        assert.deepEqual(Array.from(ours[0]), Array.from(stock[0]), `sum, ${what}`);
        assert.deepEqual(Array.from(ours[1]), Array.from(stock[1]), `mean, ${what}`);
        tf.dispose([x, probe]);
      }
    });
  }
});
