import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { batchNormTraining, batchNormTrainingPlain } from '../../src/ops/batch-norm-training.js';
import { TrainingBatchNormalization } from '../../src/models/batch-norm-layer.js';
import { freshRng, gaussian } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

type Op = typeof batchNormTraining;

/** [y, mean, variance] and the gradients of sum(y p) + sum(mean q) + sum(variance r) w.r.t. x, gamma, beta. */
function evaluate(
  op: Op,
  values: { x: Float32Array; gamma: Float32Array; beta: Float32Array; p: Float32Array; q: Float32Array; r: Float32Array },
  shape: number[],
  withStats: boolean,
) {
  return tf.tidy(() => {
    const channels = shape[shape.length - 1];
    const [x, gamma, beta] = [tf.tensor(values.x, shape), tf.tensor1d(values.gamma), tf.tensor1d(values.beta)];
    const [p, q, r] = [tf.tensor(values.p, shape), tf.tensor1d(values.q), tf.tensor1d(values.r)];
    const outputs = op(x, gamma, beta, 1e-3).map((t) => t.dataSync().slice());
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const [y, mean, variance] = op(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
      const main = tf.sum(tf.mul(y, p));
      return withStats ? tf.addN([main, tf.sum(tf.mul(mean, q)), tf.sum(tf.mul(variance, r))]) : main;
    };
    const grads = tf
      .grads(loss)([x, gamma, beta])
      .map((t) => t.dataSync().slice());
    assert.equal(outputs[1].length, channels);
    return { outputs, grads };
  });
}

describe('batchNormTraining: the fused training-mode batch norm on wasm against the plain formulation on cpu', () => {
  const cases = [
    { name: 'WRN activations (SIMD passes, 16 channels)', shape: [8, 6, 6, 16], offset: 0 },
    { name: '64 channels, rows not a multiple of the 128-row block', shape: [3, 7, 9, 64], offset: 0 },
    { name: 'mean far from zero (1000 + N(0, 1): centring matters)', shape: [4, 8, 8, 8], offset: 1000 },
    { name: 'channels not a multiple of 4 (JS loops)', shape: [4, 5, 5, 6], offset: 0 },
    { name: 'rank 2', shape: [37, 12], offset: 0 },
  ];
  for (const c of cases) {
    for (const withStats of [false, true]) {
      it(`${c.name}${withStats ? ', with gradients through the mean and variance outputs' : ''}: outputs and gradients agree`, async () => {
        const rng = freshRng(`batch-norm-training ${c.name} ${withStats}`);
        const size = c.shape.reduce((a, b) => a * b, 1);
        const channels = c.shape[c.shape.length - 1];
        const f32 = (values: Float64Array) => Float32Array.from(values);
        const values = {
          x: f32(gaussian(rng, size).map((v, i) => v * (1 + (i % channels) / 4) + c.offset)),
          gamma: f32(gaussian(rng, channels)),
          beta: f32(gaussian(rng, channels)),
          p: f32(gaussian(rng, size)),
          q: f32(gaussian(rng, channels)),
          r: f32(gaussian(rng, channels)),
        };
        await initEngine('cpu');
        const expected = evaluate(batchNormTrainingPlain, values, c.shape, withStats);
        await initEngine('wasm');
        const before = tf.memory().numTensors;
        const actual = evaluate(batchNormTraining, values, c.shape, withStats);
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        ['y', 'mean', 'variance'].forEach((name, i) => {
          const error = relativeError(actual.outputs[i], expected.outputs[i]);
          assert.ok(error < 1e-5, `${name}: relative error ${error}`);
        });
        ['x', 'gamma', 'beta'].forEach((name, i) => {
          const error = relativeError(actual.grads[i], expected.grads[i]);
          assert.ok(error < 1e-4, `d${name}: relative error ${error}`);
        });
      });
    }
  }

  it('rejects gamma or beta of the wrong length', async () => {
    await initEngine('wasm');
    assert.throws(() => batchNormTraining(tf.zeros([2, 4]), tf.ones([3]) as tf.Tensor1D, tf.zeros([4]) as tf.Tensor1D, 1e-3), /channels/);
  });
});

describe('TrainingBatchNormalization: the layer on the fused op', () => {
  it('trains and infers as tfjs-layers BatchNormalization (outputs, gradients, moving statistics) and serialises as it', async () => {
    await initEngine('wasm');
    const rng = freshRng('training batch norm layer');
    const shape = [6, 5, 5, 8];
    const x = tf.tensor(Float32Array.from(gaussian(rng, 6 * 5 * 5 * 8)), shape);
    const probe = tf.tensor(Float32Array.from(gaussian(rng, 6 * 5 * 5 * 8)), shape);
    const gammaValues = Float32Array.from(gaussian(rng, 8));
    const layers = [tfl.layers.batchNormalization({ momentum: 0.9 }), new TrainingBatchNormalization({ momentum: 0.9 })];
    const results = layers.map((layer) => {
      layer.build(shape);
      const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      gamma.assign(tf.tensor1d(gammaValues));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, probe)), [gamma, beta]);
      const inference = (layer.apply(x, { training: false }) as tf.Tensor).dataSync();
      return {
        value: value.dataSync()[0],
        grads: Object.values(grads).map((g) => g.dataSync()),
        moving: layer
          .getWeights()
          .slice(2)
          .map((w) => w.dataSync()),
        inference,
      };
    });
    const [base, fused] = results;
    assert.ok(Math.abs(fused.value - base.value) <= 1e-4 * Math.max(1, Math.abs(base.value)), `loss ${fused.value} vs ${base.value}`);
    base.grads.forEach((g, i) => assert.ok(relativeError(fused.grads[i], g) < 1e-4, `gradient ${i}`));
    base.moving.forEach((m, i) => assert.ok(relativeError(fused.moving[i], m) < 1e-5, `moving statistic ${i}`));
    assert.ok(relativeError(fused.inference, base.inference) < 1e-5, 'inference');
    assert.equal(layers[1].getClassName(), 'BatchNormalization');
  });
});
