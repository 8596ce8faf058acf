import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PatchDataset } from '../../src/data/dataset.js';
import { initEngine } from '../../src/engine/backend.js';
import { gemmThreads, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import type { SimdArena } from '../../src/kernels/simd-arena.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { FusedCnn } from '../../src/training/fused-cnn.js';
import { FusedPmoe } from '../../src/training/fused-pmoe.js';
import type { FusedTrainer } from '../../src/training/fused.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng } from '../support/random.js';

/** MNIST-patch shapes, so that the products are large enough to split across the two threads. */
const [COUNT, N, D] = [40, 16, 784];

function randomSet(rng: Rng, zeros: number): PatchDataset {
  return {
    patches: Float32Array.from({ length: COUNT * N * D }, () => (rng.next() < zeros ? 0 : rng.next())),
    labels: Int32Array.from({ length: COUNT }, () => rng.int(2)),
    discriminativePatch: new Int32Array(COUNT).fill(-1),
    count: COUNT,
    patchCount: N,
    patchDim: D,
    classes: 2,
  };
}

/** Three SGD steps on two batches, then the gradients, logits and test evaluation. */
function trace(trainer: FusedTrainer) {
  const batches = [Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 20 }, (_, i) => 39 - i)];
  for (const batch of [...batches, batches[0]]) trainer.step(batch);
  // The arena is private: read here only to show which path ran.
  const { twoThreads } = (trainer as unknown as { arena: SimdArena }).arena;
  const result = { ...trainer.gradients(batches[1]), logits: trainer.logits(batches[0]), test: trainer.evaluate('test'), twoThreads };
  trainer.dispose();
  return result;
}

describe('fused trainers give the same steps on one thread and on two', () => {
  const models = {
    cnn: (seed: number) => new TwoLayerCnn({ patchCount: N, patchDim: D, neurons: 40, seed }),
    joint: (seed: number) =>
      new TwoLayerPmoe({ patchCount: N, patchDim: D, experts: 2, neuronsPerExpert: 20, patchesPerExpert: 8, gate: 'softmax-selected', seed }),
  };
  for (const [name, build] of Object.entries(models)) {
    for (const zeros of [0, 0.8]) {
      it(`${name}, ${zeros ? 'sparse' : 'dense'} patches: weights, gradients, logits and evaluation equal to the bit`, async (t) => {
        if (gemmThreads() === null) return t.skip('the two-thread products need two cores and worker threads');
        await initEngine('wasm');
        const rng = freshRng(`fused-threads ${name} ${zeros}`);
        const [train, test] = [randomSet(rng, zeros), randomSet(rng, zeros)];
        const seed = rng.int(1000) + 1;
        const settings = { learningRate: 0.2, batchSize: 20 };
        const trainer = (model: TwoLayerCnn | TwoLayerPmoe) =>
          model instanceof TwoLayerCnn ? new FusedCnn(model, train, test, settings) : new FusedPmoe(model, train, test, settings);
        const [first, second] = [build(seed), build(seed)];
        const two = trace(trainer(first));
        setGemmThreads(false);
        try {
          const one = trace(trainer(second));
          assert.deepEqual([two.twoThreads, one.twoThreads], [true, false]);
          assert.equal(two.loss, one.loss);
          assert.deepEqual(two.grads, one.grads);
          assert.deepEqual(two.logits, one.logits);
          assert.deepEqual(two.test, one.test);
        } finally {
          setGemmThreads(true);
          first.dispose();
          second.dispose();
        }
      });
    }
  }
});
