import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tf } from '../../../src/engine/backend.js';
import { releaseWebgpu } from '../../../src/engine/webgpu/dawn.js';
import { batchNormStatisticsKernels } from '../../../src/kernels/wgsl/batch-norm-statistics.js';
import { batchNormReluKernel } from '../../../src/kernels/wgsl/batch-norm-relu.js';
import { batchNormReluGradientKernels } from '../../../src/kernels/wgsl/batch-norm-relu-gradient.js';
import { biasGradientKernels } from '../../../src/kernels/wgsl/bias-gradient.js';
import { download, kernelTestDevice, output, runKernels, scaledError, upload } from '../../support/gpu-kernels.js';
import { freshRng } from '../../support/random.js';

const CASES: [rows: number, channels: number][] = [
  [50, 3],
  [300, 16],
  [2000, 70],
  [40000, 8],
];

const MOMENTUM = 0.9;
const EPSILON = 1e-3;

describe('WGSL batch norm with ReLU and bias gradients agree with tfjs on cpu', async () => {
  const { runner, skip } = await kernelTestDevice();
  after(() => releaseWebgpu());
  for (const [rows, channels] of CASES) {
    it(`${rows} rows x ${channels} channels: statistics, moving averages, y, every gradient; bias gradient (2 groups)`, { skip }, async () => {
      const gpu = runner!;
      const rng = freshRng(`wgsl-bn-${rows}x${channels}`);
      const gauss = (n: number, mean = 0, std = 1) => Float32Array.from({ length: n }, () => mean + std * rng.normal());
      const x = gauss(rows * channels, 0.5, 2);
      const gamma = gauss(channels, 1, 0.3);
      const beta = gauss(channels, 0, 0.5);
      const dy = gauss(rows * channels);
      const prior = gauss(rows * channels);
      const movingMean = gauss(channels);
      const movingVariance = Float32Array.from(gauss(channels), (v) => 1 + Math.abs(v));
      const expected = tf.tidy(() => {
        const xt = tf.tensor2d(x, [rows, channels]);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, 0);
          return tf.relu(tf.batchNorm(a, mean, variance, b, g, EPSILON));
        };
        const { mean, variance } = tf.moments(xt, 0);
        const y = f(xt, tf.tensor1d(gamma), tf.tensor1d(beta));
        const decay = (moving: Float32Array, value: tf.Tensor) => tf.sub(moving, tf.mul(tf.sub(moving, value), 1 - MOMENTUM));
        return {
          mean: mean.dataSync(),
          invstd: tf.rsqrt(tf.add(variance, EPSILON)).dataSync(),
          movingMean: decay(movingMean, mean).dataSync(),
          movingVariance: decay(movingVariance, variance).dataSync(),
          y: y.dataSync(),
        };
      });
      const stats = gpu.device.createBuffer({ size: 8 * channels, usage: 128 | 4 | 8 });
      const statistics = batchNormStatisticsKernels({ rows, channels, momentum: MOMENTUM, epsilon: EPSILON });
      const gradient = batchNormReluGradientKernels({ rows, channels });
      const accumulated = batchNormReluGradientKernels({ rows, channels, accumulate: true });
      // The two halves of dy as two groups of rows / 2 rows each.
      const bias = biasGradientKernels({ rows: rows / 2, channels, groups: 2, outGroupStride: channels + 5 });
      const [xb, gb, bb, dyb, mm, mv] = [x, gamma, beta, dy, movingMean, movingVariance].map((v) => upload(gpu, v));
      const dxAccumulated = upload(gpu, prior);
      const [y, dx, dgamma, dbeta, db] = [rows * channels, rows * channels, channels, channels, 2 * channels + 5].map((n) => output(gpu, n));
      const partials = output(gpu, Math.max(statistics.partialFloats, gradient.partialFloats, bias.partialFloats));
      await runKernels(gpu, [
        ...statistics.kernels.map((k) => [k, [xb, stats, mm, mv, partials]] as const),
        [batchNormReluKernel({ rows, channels }), [xb, stats, gb, bb, y]],
        ...gradient.sums.map((k) => [k, [xb, y, dyb, stats, dgamma, dbeta, partials]] as const),
        [gradient.inputGradient, [xb, y, dyb, stats, gb, dgamma, dbeta, dx]],
        [accumulated.inputGradient, [xb, y, dyb, stats, gb, dgamma, dbeta, dxAccumulated]],
        [bias.partial, [dyb, db, partials]],
        [bias.finish, [dyb, db, partials]],
      ]);
      const check = (name: string, actual: Float32Array, wanted: ArrayLike<number>, tolerance = 1e-5) => {
        const error = scaledError(actual, wanted);
        assert.ok(error < tolerance, `${name}: relative error ${error.toExponential(2)}`);
      };
      const statsValues = await download(gpu, stats, 2 * channels);
      check('mean', statsValues.subarray(0, channels), expected.mean);
      check('1 / sqrt(var + eps)', statsValues.subarray(channels), expected.invstd);
      check('moving mean', await download(gpu, mm, channels), expected.movingMean);
      check('moving variance', await download(gpu, mv, channels), expected.movingVariance);
      check('y', await download(gpu, y, rows * channels), expected.y);
      // The gradients against float64 under the kernels' own ReLU mask: a y within rounding of 0 that tfjs masks the
      // other way, and tfjs's float32 sums of 40000 terms, each move them by more than the kernels' error.
      const yValues = await download(gpu, y, rows * channels);
      const exact = { dgamma: new Float64Array(channels), dbeta: new Float64Array(channels), dx: new Float64Array(rows * channels) };
      for (let c = 0; c < channels; c++) {
        let mean = 0;
        for (let r = 0; r < rows; r++) mean += x[r * channels + c];
        mean /= rows;
        let variance = 0;
        for (let r = 0; r < rows; r++) variance += (x[r * channels + c] - mean) ** 2;
        const invstd = 1 / Math.sqrt(variance / rows + EPSILON);
        const masked = (i: number) => (yValues[i] > 0 ? dy[i] : 0);
        for (let r = 0; r < rows; r++) {
          const i = r * channels + c;
          exact.dgamma[c] += masked(i) * (x[i] - mean) * invstd;
          exact.dbeta[c] += masked(i);
        }
        for (let r = 0; r < rows; r++) {
          const i = r * channels + c;
          const xhat = (x[i] - mean) * invstd;
          exact.dx[i] = ((gamma[c] * invstd) / rows) * (rows * masked(i) - exact.dbeta[c] - xhat * exact.dgamma[c]);
        }
      }
      check('dgamma', await download(gpu, dgamma, channels), exact.dgamma, 1e-4);
      check('dbeta', await download(gpu, dbeta, channels), exact.dbeta, 1e-4);
      check('dx', await download(gpu, dx, rows * channels), exact.dx, 1e-4);
      check(
        'dx accumulated',
        await download(gpu, dxAccumulated, rows * channels),
        Float64Array.from(exact.dx, (v, i) => v + prior[i]),
        1e-4,
      );
      const biasGradient = await download(gpu, db, 2 * channels + 5);
      const halves = tf.tidy(() => tf.sum(tf.tensor3d(dy, [2, rows / 2, channels]), 1).dataSync());
      check('bias gradient, group 0', biasGradient.subarray(0, channels), halves.subarray(0, channels));
      check('bias gradient, group 1', biasGradient.subarray(channels + 5, 2 * channels + 5), halves.subarray(channels));
      for (const b of [stats, xb, gb, bb, dyb, mm, mv, dxAccumulated, y, dx, dgamma, dbeta, db, partials]) b.destroy();
    });
  }
});
