import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { EXPERT_CHOICE, expertChoice } from '../../src/routing/expert-choice-op.js';
import { GATE_MODES, type GateMode } from '../../src/routing/gate.js';
import { route } from '../../src/routing/route.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/** The reference: route() on the [batch, k, n] layout. */
function viaRoute(scores: tf.Tensor2D, n: number, l: number, gate: GateMode) {
  const [rows, k] = scores.shape;
  return route(tf.transpose(tf.reshape(scores, [rows / n, n, k]), [0, 2, 1]) as tf.Tensor3D, l, gate);
}

/** Indices, gates and d sum(gates * probe) / d scores. */
function run(choose: typeof viaRoute, scores: tf.Tensor2D, n: number, l: number, gate: GateMode, probe: tf.Tensor) {
  return tf.tidy(() => {
    const { indices, gates } = choose(scores, n, l, gate);
    const grad = tf.grad((s: tf.Tensor) => tf.sum(tf.mul(choose(s as tf.Tensor2D, n, l, gate).gates, probe)))(scores);
    return { indices: Array.from(indices.dataSync()), gates: gates.dataSync().slice(), grad: grad.dataSync().slice() };
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`expertChoice on ${backend} (routing as one op) against route()`, () => {
    for (const gate of GATE_MODES) {
      for (const tied of [false, true]) {
        it(`${gate}, ${tied ? 'many tied scores' : 'gaussian scores'}: the same indices, gates and score gradient`, async () => {
          await initEngine(backend);
          const rng = freshRng(`expert-choice-${backend}-${gate}-${tied}`);
          const [batch, n, k, l] = [5, 24, 3, 7];
          const values = Array.from({ length: batch * n * k }, () => (tied ? rng.int(4) : 3 * rng.normal()));
          const scores = tf.tensor2d(values, [batch * n, k]);
          const probe = tf.tensor3d(
            Array.from({ length: batch * k * l }, () => rng.normal()),
            [batch, k, l],
          );
          const before = tf.memory().numTensors;
          const fast = run(expertChoice, scores, n, l, gate, probe);
          assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
          const reference = run(viaRoute, scores, n, l, gate, probe);
          assert.deepEqual(fast.indices, reference.indices, 'indices (ties to the lower patch)');
          assert.ok(relativeError(fast.gates, reference.gates) < 1e-6, `gates: ${relativeError(fast.gates, reference.gates)}`);
          if (gate === 'hard')
            assert.ok(
              fast.grad.every((v) => v === 0),
              'hard gates pass no gradient',
            );
          else assert.ok(relativeError(fast.grad, reference.grad) < 1e-5, `gradient: ${relativeError(fast.grad, reference.grad)}`);
          const profile = await tf.profile(() => tf.tidy(() => expertChoice(scores, n, l, gate).gates));
          assert.ok(profile.kernelNames.includes(EXPERT_CHOICE), `kernels run: ${profile.kernelNames}`);
          tf.dispose([scores, probe]);
        });
      }
    }

    it('refuses scores that are not whole images, l outside 1..n and unknown gates', async () => {
      await initEngine(backend);
      const scores = tf.zeros([10, 2]) as tf.Tensor2D;
      assert.throws(() => expertChoice(scores, 4, 2, 'hard'), /10 score rows are not whole images of 4 patches/);
      assert.throws(() => expertChoice(scores, 5, 6, 'hard'), /patchesPerExpert must be an integer in 1\.\.5 \(l <= n\); got 6/);
      assert.throws(() => expertChoice(scores, 5, 2, 'soft' as GateMode), /gate must be one of softmax-selected, softmax-all, hard; got soft/);
      scores.dispose();
    });
  });
}
