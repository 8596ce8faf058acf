import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tf } from '../../../src/engine/backend.js';
import { releaseWebgpu } from '../../../src/engine/webgpu/dawn.js';
import { convGeometry, type ConvShape } from '../../../src/kernels/wgsl/conv-geometry.js';
import { convForwardKernel } from '../../../src/kernels/wgsl/conv-forward.js';
import { convFilterGradientKernels } from '../../../src/kernels/wgsl/conv-filter-gradient.js';
import { convInputGradientKernels } from '../../../src/kernels/wgsl/conv-input-gradient.js';
import type { GemmChoice } from '../../../src/kernels/wgsl/gemm.js';
import { GRADIENT_SCALE_CHUNKS, gradientScaleKernels } from '../../../src/kernels/wgsl/gradient-scale.js';
import { deviceCapabilities, planKernels } from '../../../src/training/webgpu/precision.js';
import { download, kernelTestDevice, output, runKernels, scaledError, upload } from '../../support/gpu-kernels.js';
import { freshRng } from '../../support/random.js';

const SHAPES: [string, ConvShape, GemmChoice?][] = [
  ['3x3 same stride 1', { batch: 2, inHeight: 7, inWidth: 6, inChannels: 5, outChannels: 9, kernelSize: 3, stride: 1, padding: 'same' }],
  ['3x3 same stride 2, even size', { batch: 2, inHeight: 8, inWidth: 8, inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 'same' }],
  ['3x3 same stride 2, odd size', { batch: 3, inHeight: 7, inWidth: 9, inChannels: 3, outChannels: 5, kernelSize: 3, stride: 2, padding: 'same' }],
  ['1x1 valid stride 1', { batch: 3, inHeight: 5, inWidth: 4, inChannels: 70, outChannels: 33, kernelSize: 1, stride: 1, padding: 'valid' }],
  ['1x1 valid stride 2', { batch: 2, inHeight: 8, inWidth: 6, inChannels: 8, outChannels: 12, kernelSize: 1, stride: 2, padding: 'valid' }],
  [
    '3x3 same stride 1, wide (several tiles)',
    { batch: 2, inHeight: 12, inWidth: 12, inChannels: 20, outChannels: 140, kernelSize: 3, stride: 1, padding: 'same' },
  ],
  [
    '3x3 same on 2x2 patches, 3 groups',
    { batch: 5, inHeight: 2, inWidth: 2, inChannels: 6, outChannels: 4, kernelSize: 3, stride: 1, padding: 'same', groups: 3 },
  ],
  // Every register block the tile choice may pick (and the largest the generator makes).
  ...(
    [
      [1, 1],
      [2, 4],
      [4, 1],
      [8, 8],
    ] as const
  ).map(([rowsPerThread, colsPerThread]): [string, ConvShape, GemmChoice] => [
    `3x3 same stride 2, ${rowsPerThread}x${colsPerThread} outputs per thread`,
    { batch: 3, inHeight: 9, inWidth: 10, inChannels: 20, outChannels: 70, kernelSize: 3, stride: 2, padding: 'same' },
    { tile: { rowsPerThread, colsPerThread } },
  ]),
];

// One device for every suite here, released after the last.
after(() => releaseWebgpu());

const gaussian = (rng: ReturnType<typeof freshRng>, n: number) => Float32Array.from({ length: n }, () => rng.normal());

/** tfjs on cpu: y, dx and dW of group g. */
function reference(shape: ConvShape, x: Float32Array, w: Float32Array, bias: Float32Array, dy: Float32Array) {
  const g = convGeometry(shape);
  const kernelSize = g.kernelSize * g.kernelSize * g.inChannels * g.outChannels;
  const ys: Float32Array[] = [];
  const dxs: Float32Array[] = [];
  const dws: Float32Array[] = [];
  for (let group = 0; group < g.groups; group++) {
    tf.tidy(() => {
      const xt = tf.tensor4d(x.subarray(group * g.inputSize, (group + 1) * g.inputSize), [g.batch, g.inHeight, g.inWidth, g.inChannels]);
      const wt = tf.tensor4d(w.subarray(group * kernelSize, (group + 1) * kernelSize), [g.kernelSize, g.kernelSize, g.inChannels, g.outChannels]);
      const bt = tf.tensor1d(bias.subarray(group * g.outChannels, (group + 1) * g.outChannels));
      const dyt = tf.tensor4d(dy.subarray(group * g.outputSize, (group + 1) * g.outputSize), [g.batch, g.outHeight, g.outWidth, g.outChannels]);
      const f = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, g.stride, g.padding);
      ys.push(tf.add(f(xt, wt), bt).dataSync() as Float32Array);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D))([xt, wt], dyt);
      dxs.push(dx.dataSync() as Float32Array);
      dws.push(dw.dataSync() as Float32Array);
    });
  }
  const join = (parts: Float32Array[]) => Float32Array.from(parts.flatMap((p) => Array.from(p)));
  return { y: join(ys), dx: join(dxs), dw: join(dws) };
}

describe('WGSL convolutions (implicit GEMMs) agree with tfjs on cpu', async () => {
  const { runner, skip } = await kernelTestDevice();
  for (const [what, shape, gemm] of SHAPES) {
    it(`${what}: forward, input gradient (written and accumulated), filter gradient (split and whole)`, { skip }, async () => {
      const gpu = runner!;
      const g = convGeometry(shape);
      const rng = freshRng(`wgsl-conv-${what}`);
      const kernelFloats = g.kernelSize * g.kernelSize * g.inChannels * g.outChannels;
      const x = gaussian(rng, g.groups * g.inputSize);
      const w = gaussian(rng, g.groups * kernelFloats);
      const bias = gaussian(rng, g.groups * g.outChannels);
      const dy = gaussian(rng, g.groups * g.outputSize);
      const prior = gaussian(rng, g.groups * g.inputSize);
      const expected = reference(shape, x, w, bias, dy);

      const [xb, wb, bb, dyb] = [x, w, bias, dy].map((v) => upload(gpu, v));
      const y = output(gpu, g.groups * g.outputSize);
      const dx = output(gpu, g.groups * g.inputSize);
      const dxAccumulated = upload(gpu, prior);
      const whole = convFilterGradientKernels(shape, 1, gemm);
      const split = convFilterGradientKernels(shape, 3, gemm);
      assert.ok(split.splits > 1, `${split.splits} splits`);
      const dwWhole = output(gpu, g.groups * kernelFloats);
      const dwSplit = output(gpu, g.groups * kernelFloats);
      const partials = output(gpu, split.partialFloats);
      await runKernels(gpu, [
        [convForwardKernel(shape, gemm), [xb, wb, bb, y]],
        ...convInputGradientKernels(shape, false, gemm).map((k) => [k, [dyb, wb, dx]] as const),
        ...convInputGradientKernels(shape, true, gemm).map((k) => [k, [dyb, wb, dxAccumulated]] as const),
        [whole.product, [xb, dyb, dwWhole]],
        [split.product, [xb, dyb, partials]],
        [split.sum!, [partials, dwSplit]],
      ]);
      const tolerance = 1e-5;
      const check = (name: string, actual: Float32Array, wanted: Float32Array) => {
        const error = scaledError(actual, wanted);
        assert.ok(error < tolerance, `${name}: relative error ${error.toExponential(2)}`);
      };
      check('forward', await download(gpu, y, g.groups * g.outputSize), expected.y);
      check('input gradient', await download(gpu, dx, g.groups * g.inputSize), expected.dx);
      check(
        'accumulated input gradient',
        await download(gpu, dxAccumulated, g.groups * g.inputSize),
        expected.dx.map((v, i) => v + prior[i]),
      );
      check('filter gradient', await download(gpu, dwWhole, g.groups * kernelFloats), expected.dw);
      check('filter gradient, 3 splits', await download(gpu, dwSplit, g.groups * kernelFloats), expected.dw);
      for (const b of [xb, wb, bb, dyb, y, dx, dxAccumulated, dwWhole, dwSplit, partials]) b.destroy();
    });
  }
});

describe('mixed precision: the convolutions on f16 subgroup matrices agree with tfjs on cpu within f16 rounding', async () => {
  const { runner, skip } = await kernelTestDevice();
  const plan = runner ? planKernels('mixed', deviceCapabilities(runner.device)) : undefined;
  const reason = skip ?? (plan?.matrix ? undefined : `no f16 subgroup matrices on this adapter (${plan?.fallback})`);
  // f16 operands (11-bit significands), f32 sums: errors of a few 1e-3 of the largest output.
  const TOLERANCE = 2e-2;
  for (const [what, shape] of SHAPES.filter(([, , gemm]) => !gemm)) {
    it(`${what}: forward, input gradient, filter gradient (dy scaled by its power of two)`, { skip: reason }, async () => {
      const gpu = runner!;
      const gemm: GemmChoice = { matrix: plan!.matrix! };
      const g = convGeometry(shape);
      const rng = freshRng(`wgsl-conv-mixed-${what}`);
      const kernelFloats = g.kernelSize * g.kernelSize * g.inChannels * g.outChannels;
      const x = gaussian(rng, g.groups * g.inputSize);
      const w = gaussian(rng, g.groups * kernelFloats);
      const bias = gaussian(rng, g.groups * g.outChannels);
      // Gradients as small as a training step's: the scale keeps them out of f16's subnormals.
      const dy = Float32Array.from(gaussian(rng, g.groups * g.outputSize), (v) => v * 1e-6);
      const expected = reference(shape, x, w, bias, dy);
      const [xb, wb, bb, dyb] = [x, w, bias, dy].map((v) => upload(gpu, v));
      const y = output(gpu, g.groups * g.outputSize);
      const dx = output(gpu, g.groups * g.inputSize);
      const dw = output(gpu, g.groups * kernelFloats);
      const filter = convFilterGradientKernels(shape, 1, gemm);
      const maxima = output(gpu, GRADIENT_SCALE_CHUNKS);
      const scale = output(gpu, 1);
      await runKernels(gpu, [
        [convForwardKernel(shape, gemm), [xb, wb, bb, y]],
        ...gradientScaleKernels(dy.length).map((k) => [k, [dyb, maxima, scale]] as const),
        ...convInputGradientKernels(shape, false, gemm).map((k) => [k, [dyb, wb, dx, scale]] as const),
        [filter.product, [xb, dyb, dw, scale]],
      ]);
      const check = (name: string, actual: Float32Array, wanted: Float32Array) => {
        const error = scaledError(actual, wanted, 0);
        assert.ok(error < TOLERANCE, `${name}: relative error ${error.toExponential(2)}`);
      };
      check('forward', await download(gpu, y, g.groups * g.outputSize), expected.y);
      check('input gradient', await download(gpu, dx, g.groups * g.inputSize), expected.dx);
      check('filter gradient', await download(gpu, dw, g.groups * kernelFloats), expected.dw);
    });
  }
});

describe('gradient scale: the power of two that brings the largest magnitude to 2^13..2^14', async () => {
  const { runner, skip } = await kernelTestDevice();
  for (const magnitude of [1e-7, 0.5, 3e3]) {
    it(`values up to ${magnitude}`, { skip }, async () => {
      const gpu = runner!;
      const rng = freshRng(`wgsl-gradient-scale-${magnitude}`);
      const values = Float32Array.from({ length: 300_001 }, () => magnitude * (rng.next() * 2 - 1));
      const largest = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const buffers = [upload(gpu, values), output(gpu, GRADIENT_SCALE_CHUNKS), output(gpu, 1)];
      await runKernels(
        gpu,
        gradientScaleKernels(values.length).map((k) => [k, buffers] as const),
      );
      const scale = buffers[2];
      const [s] = await download(gpu, scale, 1);
      assert.equal(Math.log2(s), Math.round(Math.log2(s)), `${s} is a power of two`);
      assert.ok(largest * s <= 2 ** 14 && largest * s > 2 ** 13, `largest ${largest} scaled by ${s}`);
    });
  }
});
