import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { gemmThreads, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../../src/models/wide-resnet.js';
import { classificationLoss } from '../../src/training/loss.js';
import { freshRng } from '../support/random.js';

describe('one thread and two give the same results', () => {
  it('WRN-pMoE: training-mode loss and every gradient equal to the bit (convolutions, expert products and batch norm on two threads or one)', async (t) => {
    if (gemmThreads() === null) return t.skip('the two-thread products need two cores and worker threads');
    await initEngine('wasm');
    const rng = freshRng('threads-determinism wrn-pmoe');
    const seed = rng.int(1000) + 1;
    const x = tf.tensor4d(
      Float32Array.from({ length: 8 * 32 * 32 }, () => rng.normal()),
      [8, 32, 32, 1],
    );
    const labels = tf.tensor1d(
      Int32Array.from({ length: 8 }, () => rng.int(4)),
      'int32',
    );
    const run = (twoThreads: boolean) => {
      setGemmThreads(twoThreads);
      try {
        const model = buildWrnPmoe({ ...WRN_PMOE_CIFAR, wideningFactor: 1, classes: 4, inputSize: 32, channels: 1, seed });
        const variables = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
        const { value, grads } = tf.variableGrads(() => classificationLoss(model.apply(x, { training: true }) as tf.Tensor2D, labels), variables);
        const result = { loss: value.dataSync()[0], grads: variables.map((variable) => grads[variable.name].dataSync().slice()) };
        tf.dispose([value, ...Object.values(grads)]);
        model.dispose();
        return result;
      } finally {
        setGemmThreads(true);
      }
    };
    const [two, one] = [run(true), run(false)];
    assert.equal(two.loss, one.loss);
    assert.deepEqual(two.grads, one.grads);
    tf.dispose([x, labels]);
  });
});
