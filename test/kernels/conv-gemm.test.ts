import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../../src/engine/backend.js';
import { convFilterGradient, convForward, convGeometry, convInputGradient, directApplies } from '../../src/kernels/conv-gemm.js';
import { setGemmThreads } from '../../src/kernels/gemm-threads.js';
import { freshRng, gaussian } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';
import type { ConvCase } from '../support/conv-case.js';

/** Geometries the per-tap products take (channels-last, undilated, output channels in multiples of 4). */
const CASES: ConvCase[] = [
  { name: 'WRN 3x3 same stride 1, 16 -> 16', x: [4, 12, 12, 16], filter: [3, 3, 16, 16], strides: 1, pad: 'same' },
  { name: 'WRN 3x3 same stride 2, even input (pad 0 top, 1 bottom)', x: [3, 10, 10, 16], filter: [3, 3, 16, 32], strides: 2, pad: 'same' },
  { name: 'WRN 1x1 stride 2 shortcut (three phases without taps)', x: [2, 8, 8, 16], filter: [1, 1, 16, 32], strides: 2, pad: 'valid' },
  { name: '3x3 same stride 2, odd input', x: [2, 9, 7, 8], filter: [3, 3, 8, 4], strides: 2, pad: 'same' },
  { name: 'RGB stem, 3 input channels', x: [2, 8, 8, 3], filter: [3, 3, 3, 8], strides: 1, pad: 'same' },
  { name: '1 input channel, 5x5 valid', x: [2, 9, 9, 1], filter: [5, 5, 1, 4], strides: 1, pad: 'valid' },
  { name: 'positions not a multiple of 4 (padding rows)', x: [1, 3, 3, 4], filter: [3, 3, 4, 12], strides: 1, pad: 'same' },
  { name: '4x4 patches stride 4', x: [3, 8, 12, 4], filter: [4, 4, 4, 8], strides: 4, pad: 'valid' },
  { name: 'kernel smaller than the stride (2x2 stride 3)', x: [2, 11, 10, 4], filter: [2, 2, 4, 4], strides: 3, pad: 'valid' },
  { name: 'non-square 3x5 kernel, strides [1, 2]', x: [2, 9, 11, 8], filter: [3, 5, 8, 4], strides: [1, 2], pad: 'same' },
  {
    name: 'explicit asymmetric pad, strides [2, 1]',
    x: [2, 10, 9, 4],
    filter: [3, 2, 4, 8],
    strides: [2, 1],
    pad: [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ],
  },
  {
    name: 'pad wider than the kernel',
    x: [1, 6, 6, 4],
    filter: [2, 2, 4, 4],
    strides: 1,
    pad: [
      [0, 0],
      [3, 0],
      [0, 3],
      [0, 0],
    ],
  },
];

const TOLERANCE = 1e-5;

describe('conv-gemm: convolutions and their gradients by per-tap SIMD products on the wasm heap', () => {
  for (const [c, threads] of CASES.flatMap((c) => [true, false].map((threads) => [c, threads] as const))) {
    test(`${c.name}, ${threads ? 'two threads where available' : 'one thread'}: forward (with bias), input and filter gradients equal tfjs's cpu kernels, nothing leaked`, async () => {
      setGemmThreads(threads);
      const rng = freshRng(`conv-gemm ${c.name}`);
      const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
      const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
      const [xVals, fVals, dyVals] = [c.x, c.filter, info.outShape].map((shape) => Float32Array.from(gaussian(rng, size(shape))));
      const bVals = Float32Array.from(gaussian(rng, c.filter[3]));
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' as const };

      await initEngine('cpu');
      const expected = tf.tidy(() => {
        const [x, f, dy] = [tf.tensor4d(xVals, c.x), tf.tensor4d(fVals, c.filter), tf.tensor4d(dyVals, info.outShape as [number, number, number, number])];
        const run = (name: string, inputs: tf.NamedTensorMap, extra: tf.NamedAttrMap) =>
          (tf.engine().runKernel(name, inputs, { ...attrs, ...extra }) as tf.Tensor).dataSync();
        return {
          out: tf.add(tf.conv2d(x, f, c.strides, c.pad), tf.tensor1d(bVals)).dataSync(),
          dx: run('Conv2DBackpropInput', { dy, filter: f }, { inputShape: c.x }),
          dW: run('Conv2DBackpropFilter', { x, dy }, { filterShape: c.filter }),
        };
      });

      await initEngine('wasm');
      const backend = tf.backend() as BackendWasm;
      const geometry = convGeometry(info);
      assert.ok(geometry, 'the per-tap products take this geometry');
      const idsBefore = backend.numDataIds();
      const [x, f, dy, bias] = [tf.tensor4d(xVals, c.x), tf.tensor4d(fVals, c.filter), tf.tensor(dyVals, info.outShape), tf.tensor1d(bVals)];
      const read = (info: tf.TensorInfo | null) => {
        assert.ok(info, 'the fast path ran');
        const values = (backend.typedArrayFromHeap(info) as Float32Array).slice();
        backend.disposeData(info.dataId);
        return values;
      };
      const out = read(convForward(backend, x, f, bias, geometry));
      const dW = read(convFilterGradient(backend, x, dy, geometry));
      assert.ok(relativeError(out, expected.out) < TOLERANCE, `forward: ${relativeError(out, expected.out)}`);
      assert.ok(relativeError(dW, expected.dW) < TOLERANCE, `filter gradient: ${relativeError(dW, expected.dW)}`);
      const dx = read(convInputGradient(backend, dy, f, geometry));
      assert.ok(relativeError(dx, expected.dx) < TOLERANCE, `input gradient: ${relativeError(dx, expected.dx)}`);
      tf.dispose([x, f, dy, bias]);
      assert.equal(backend.numDataIds(), idsBefore, 'heap tensors leaked');
      setGemmThreads(true);
    });
  }

  test('one thread: the row offsets kept from the first call serve later calls whose operands lie elsewhere on the heap', async () => {
    setGemmThreads(false);
    await initEngine('wasm');
    const backend = tf.backend() as BackendWasm;
    const c = CASES[1]; // stride 2: input-gradient phases of different sizes
    const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
    const geometry = convGeometry(info)!;
    const rng = freshRng('conv-gemm kept offsets');
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const [xVals, fVals, dyVals] = [c.x, c.filter, info.outShape].map((shape) => Float32Array.from(gaussian(rng, size(shape))));
    const f = tf.tensor4d(fVals, c.filter);
    const runs: { offset: number; out: Float32Array; dx: Float32Array; dW: Float32Array }[] = [];
    const kept: tf.Tensor[] = []; // held to the end, so that each call's operands lie elsewhere
    for (let call = 0; call < 3; call++) {
      // Scaled by 2^call (exact): a table still pointing at an earlier call's operands would give that call's results.
      const scale = 2 ** call;
      const [x, dy] = [
        tf.tensor4d(
          xVals.map((v) => v * scale),
          c.x,
        ),
        tf.tensor(
          dyVals.map((v) => v * scale),
          info.outShape,
        ),
      ];
      kept.push(x, dy);
      const read = (result: tf.TensorInfo | null) => {
        assert.ok(result, 'the fast path ran');
        const values = (backend.typedArrayFromHeap(result) as Float32Array).slice();
        backend.disposeData(result.dataId);
        return values;
      };
      runs.push({
        offset: backend.getMemoryOffset(x.dataId),
        out: read(convForward(backend, x, f, undefined, geometry)),
        dx: read(convInputGradient(backend, dy, f, geometry)),
        dW: read(convFilterGradient(backend, x, dy, geometry)),
      });
    }
    tf.dispose([f, ...kept]);
    assert.equal(new Set(runs.map((run) => run.offset)).size, 3, 'x lay at three different heap addresses');
    runs.forEach((run, call) => {
      assert.deepEqual(
        run.out,
        runs[0].out.map((v) => v * 2 ** call),
        `forward, call ${call}`,
      );
      assert.deepEqual(
        run.dx,
        runs[0].dx.map((v) => v * 2 ** call),
        `input gradient, call ${call}`,
      );
      assert.deepEqual(
        run.dW,
        runs[0].dW.map((v) => v * 4 ** call),
        `filter gradient, call ${call}`,
      );
    });
    setGemmThreads(true);
  });

  test('declines dilations, NCHW, output channels not a multiple of 4, and input channels neither a multiple of 4 nor fewer', () => {
    const info = (x: number[], filter: number[], dilations: number, format: 'channelsLast' | 'channelsFirst' = 'channelsLast') =>
      tf.backend_util.computeConv2DInfo(
        x as [number, number, number, number],
        filter as [number, number, number, number],
        1,
        dilations,
        'same',
        undefined,
        false,
        format,
      );
    assert.equal(convGeometry(info([1, 8, 8, 4], [3, 3, 4, 4], 2)), null);
    assert.equal(convGeometry(info([1, 4, 8, 8], [3, 3, 4, 4], 1, 'channelsFirst')), null);
    assert.equal(convGeometry(info([1, 8, 8, 4], [3, 3, 4, 6], 1)), null);
    assert.equal(directApplies(convGeometry(info([1, 8, 8, 6], [3, 3, 6, 4], 1))!), false);
    assert.ok(directApplies(convGeometry(info([1, 8, 8, 3], [3, 3, 3, 4], 1))!));
  });
});
