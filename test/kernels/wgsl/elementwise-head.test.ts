import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tf } from '../../../src/engine/backend.js';
import { releaseWebgpu } from '../../../src/engine/webgpu/dawn.js';
import { addKernel } from '../../../src/kernels/wgsl/add.js';
import { denseInputGradientKernel, denseKernel, denseWeightGradientKernel } from '../../../src/kernels/wgsl/dense.js';
import { globalAveragePoolGradientKernel, globalAveragePoolKernel } from '../../../src/kernels/wgsl/global-average-pool.js';
import { passGradientKernel } from '../../../src/kernels/wgsl/pass-gradient.js';
import { sgdKernel } from '../../../src/kernels/wgsl/sgd.js';
import { METRIC_WORDS, softmaxCrossEntropyKernel } from '../../../src/kernels/wgsl/softmax-cross-entropy.js';
import { download, kernelTestDevice, output, runKernels, scaledError, upload } from '../../support/gpu-kernels.js';
import { freshRng } from '../../support/random.js';

describe('WGSL add, pooling, dense, loss and SGD kernels agree with tfjs on cpu', async () => {
  const { runner, skip } = await kernelTestDevice();
  after(() => releaseWebgpu());

  it('add, pass-gradient (written and accumulated), SGD', { skip }, async () => {
    const gpu = runner!;
    const rng = freshRng('wgsl-add');
    const n = 70001;
    const [a, b, c] = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => rng.normal()));
    const [ab, bb, cb] = [a, b, c].map((v) => upload(gpu, v));
    const sum = output(gpu, n);
    const passed = output(gpu, n);
    await runKernels(gpu, [
      [addKernel(n), [ab, bb, sum]],
      [passGradientKernel(n, false), [ab, passed]],
      [passGradientKernel(n, true), [bb, passed]],
      [sgdKernel({ count: n, learningRate: 0.25 }), [cb, ab]],
    ]);
    assert.deepEqual(
      await download(gpu, sum, n),
      Float32Array.from(a, (v, i) => v + b[i]),
    );
    assert.deepEqual(
      await download(gpu, passed, n),
      Float32Array.from(a, (v, i) => v + b[i]),
    );
    const sgd = tf.tidy(() => tf.sub(tf.tensor1d(c), tf.mul(tf.tensor1d(a), 0.25)).dataSync());
    assert.ok(scaledError(await download(gpu, cb, n), sgd) < 1e-6);
  });

  it('global average pool, dense, softmax cross-entropy and their gradients; the metrics accumulate', { skip }, async () => {
    const gpu = runner!;
    const rng = freshRng('wgsl-head');
    const [batch, positions, channels, classes] = [5, 12, 37, 4];
    const gauss = (length: number) => Float32Array.from({ length }, () => rng.normal());
    const x = gauss(batch * positions * channels);
    const w = gauss(channels * classes);
    const bias = gauss(classes);
    const labels = Int32Array.from({ length: batch }, () => rng.int(classes));
    const expected = tf.tidy(() => {
      const xt = tf.tensor3d(x, [batch, positions, channels]);
      const head = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.add(tf.matMul(tf.mean(xi, 1), wi), bi);
      const loss = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), head(xi, wi, bi)) as tf.Scalar;
      const [dx, dw, db] = tf.grads(loss)([xt, tf.tensor2d(w, [channels, classes]), tf.tensor1d(bias)]);
      const pooled = tf.mean(xt, 1);
      const logits = head(xt, tf.tensor2d(w, [channels, classes]), tf.tensor1d(bias));
      const dlogits = tf.grad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), l) as tf.Scalar)(logits);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.tensor1d(labels, 'int32')), 'float32'));
      return {
        pooled: pooled.dataSync(),
        logits: logits.dataSync(),
        loss: loss(xt, tf.tensor2d(w, [channels, classes]), tf.tensor1d(bias)).dataSync()[0],
        hits: hits.dataSync()[0],
        dlogits: dlogits.dataSync(),
        dpooled: tf.matMul(dlogits, tf.tensor2d(w, [channels, classes]), false, true).dataSync(),
        dx: dx.dataSync(),
        dw: dw.dataSync(),
        db: db.dataSync(),
      };
    });
    const attrs = { batch, inputs: channels, units: classes };
    const pool = { batch, positions, channels };
    const [xb, wb, bb] = [x, w, bias].map((v) => upload(gpu, v));
    const labelBuffer = upload(gpu, labels);
    const [pooled, logits, dlogits, dpooled, dw, db, dx] = [
      batch * channels,
      batch * classes,
      batch * classes,
      batch * channels,
      channels * classes,
      classes,
      x.length,
    ].map((n) => output(gpu, n));
    const metrics = upload(gpu, new Float32Array([1, 2, 3]));
    const steps = [
      [globalAveragePoolKernel(pool), [xb, pooled]],
      [denseKernel(attrs), [pooled, wb, bb, logits]],
      [softmaxCrossEntropyKernel({ batch, classes }), [logits, labelBuffer, dlogits, metrics]],
      [denseWeightGradientKernel(attrs), [pooled, dlogits, dw, db]],
      [denseInputGradientKernel(attrs), [dlogits, wb, dpooled]],
      [globalAveragePoolGradientKernel(pool), [dpooled, dx]],
    ] as const;
    await runKernels(gpu, steps);
    const check = (name: string, actual: Float32Array, wanted: ArrayLike<number>) => {
      const error = scaledError(actual, wanted);
      assert.ok(error < 1e-5, `${name}: relative error ${error.toExponential(2)}`);
    };
    check('pooled', await download(gpu, pooled, batch * channels), expected.pooled);
    check('logits', await download(gpu, logits, batch * classes), expected.logits);
    check('dlogits', await download(gpu, dlogits, batch * classes), expected.dlogits);
    check('dpooled', await download(gpu, dpooled, batch * channels), expected.dpooled);
    check('dW', await download(gpu, dw, channels * classes), expected.dw);
    check('dbias', await download(gpu, db, classes), expected.db);
    check('dx', await download(gpu, dx, x.length), expected.dx);
    const [lossSum, hits, images] = await download(gpu, metrics, METRIC_WORDS);
    assert.ok(Math.abs(lossSum - 1 - expected.loss * batch) < 1e-5 * batch, `loss sum ${lossSum - 1} vs ${expected.loss * batch}`);
    assert.equal(hits - 2, expected.hits);
    assert.equal(images - 3, batch);
  });
});
