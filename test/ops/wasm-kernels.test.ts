import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../../src/engine/backend.js';
import { registerWasmKernels } from '../../src/ops/wasm-kernels.js';
import { freshRng, gaussian } from '../support/random.js';
import type { Rng } from '../../src/util/random.js';
import type { ConvCase } from '../support/conv-case.js';
import { relativeError } from '../support/relative-error.js';

type Backend = 'cpu' | 'wasm';

const TOLERANCE = 1e-4;

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const err = relativeError(actual, expected);
  assert.ok(err < TOLERANCE, `${what}: relative error ${err.toExponential(2)} >= ${TOLERANCE}`);
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function floats(rng: Rng, shape: readonly number[]): Float32Array {
  return Float32Array.from(gaussian(rng, size(shape)));
}

/** Runs fn on a backend and copies its result out, so nothing stays allocated there. */
async function on<T>(backend: Backend, fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  let result: T | undefined;
  // tidy's return value is scanned for tensors element by element: keep arrays out of it.
  tf.tidy(() => {
    result = fn();
  });
  return result as T;
}

function wasmDataIds(): number {
  return tf.engine().backend.numDataIds();
}

before(async () => {
  await initEngine('wasm');
});

const CONV_CASES: ConvCase[] = [
  { name: '3x3 same stride 1, batch 2', x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'same' },
  { name: '3x3 same stride 2, even input (pad 0 top, 1 bottom)', x: [3, 8, 8, 5], filter: [3, 3, 5, 6], strides: 2, pad: 'same' },
  { name: '3x3 same stride 2, odd input', x: [1, 9, 9, 16], filter: [3, 3, 16, 8], strides: 2, pad: 'same' },
  { name: '3x3 valid stride 1, batch 1', x: [1, 7, 7, 2], filter: [3, 3, 2, 3], strides: 1, pad: 'valid' },
  { name: '3x3 valid stride 2 (last row unused)', x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
  { name: '1x1 stride 1', x: [2, 6, 6, 16], filter: [1, 1, 16, 16], strides: 1, pad: 'valid' },
  { name: '1x1 stride 2, odd input', x: [2, 7, 7, 4], filter: [1, 1, 4, 3], strides: 2, pad: 'same' },
  { name: '5x5 same', x: [2, 10, 10, 3], filter: [5, 5, 3, 2], strides: 1, pad: 'same' },
  { name: 'patches 28x28 stride 28 on 112x112', x: [2, 112, 112, 1], filter: [28, 28, 1, 5], strides: 28, pad: 'valid' },
  { name: 'patches 4x4 stride 4', x: [3, 16, 16, 2], filter: [4, 4, 2, 3], strides: 4, pad: 'valid' },
  { name: 'patches 4x4 stride 4, input not a multiple', x: [2, 18, 17, 1], filter: [4, 4, 1, 2], strides: 4, pad: 'valid' },
  { name: 'non-square 3x5 kernel, strides [1,2], same', x: [2, 9, 11, 3], filter: [3, 5, 3, 4], strides: [1, 2], pad: 'same' },
  { name: 'non-square 2x4 kernel, strides [2,1], valid', x: [2, 10, 9, 2], filter: [2, 4, 2, 3], strides: [2, 1], pad: 'valid' },
  { name: 'numeric pad 2', x: [2, 8, 8, 3], filter: [3, 3, 3, 4], strides: 1, pad: 2 },
  { name: 'numeric pad 1, stride 2, odd input', x: [1, 11, 11, 6], filter: [3, 3, 6, 5], strides: 2, pad: 1 },
  {
    name: 'explicit asymmetric pad, 3x2 kernel, strides [2,1]',
    x: [2, 10, 10, 2],
    filter: [3, 2, 2, 5],
    strides: [2, 1],
    pad: [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ],
  },
  {
    name: 'explicit asymmetric pad, 3x3 kernel, stride 1',
    x: [2, 7, 8, 3],
    filter: [3, 3, 3, 2],
    strides: 1,
    pad: [
      [0, 0],
      [0, 2],
      [1, 0],
      [0, 0],
    ],
  },
  {
    name: 'explicit pad wider than the 2x2 kernel',
    x: [1, 6, 6, 2],
    filter: [2, 2, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [3, 0],
      [0, 3],
      [0, 0],
    ],
  },
];

function convOutShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad).outShape;
}

describe('conv2d backprops on wasm', () => {
  test('are registered, and registering again is harmless', () => {
    const wrapped = ['GatherV2', 'Conv2DBackpropInput'].map((name) => tf.getKernel(name, 'wasm').kernelFunc);
    registerWasmKernels();
    registerWasmKernels();
    assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
    assert.ok(tf.getKernel('UnsortedSegmentSum', 'wasm'));
    // Wrapped once only: a second registration must not wrap the wrapper.
    assert.deepEqual(
      ['GatherV2', 'Conv2DBackpropInput'].map((name) => tf.getKernel(name, 'wasm').kernelFunc),
      wrapped,
    );
  });

  const rng = freshRng('wasm Conv2DBackpropFilter');
  for (const c of CONV_CASES) {
    test(`tf.grads of tf.conv2d matches cpu: ${c.name}`, async () => {
      const xVals = floats(rng, c.x);
      const fVals = floats(rng, c.filter);
      const wVals = floats(rng, convOutShape(c));
      const grads = (): Float32Array[] => {
        const x = tf.tensor4d(xVals, c.x);
        const f = tf.tensor4d(fVals, c.filter);
        const w = tf.tensor(wVals, convOutShape(c));
        const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), w));
        return tf
          .grads(loss)([x, f])
          .map((g) => g.dataSync() as Float32Array);
      };
      const [dxCpu, dfCpu] = await on('cpu', grads);
      const [dxWasm, dfWasm] = await on('wasm', grads);
      assertClose(dfWasm, dfCpu, 'filter gradient');
      assertClose(dxWasm, dxCpu, 'input gradient');
    });
  }

  const directCases: (ConvCase & { dataFormat: 'NHWC' | 'NCHW' })[] = [
    { ...CONV_CASES[0], dataFormat: 'NHWC' },
    { ...CONV_CASES[1], dataFormat: 'NHWC' },
    { ...CONV_CASES[4], dataFormat: 'NHWC' },
    { ...CONV_CASES[8], dataFormat: 'NHWC' },
    { ...CONV_CASES[15], dataFormat: 'NHWC' },
    { name: 'NCHW 3x3 same stride 2', x: [2, 3, 8, 8], filter: [3, 3, 3, 4], strides: 2, pad: 'same', dataFormat: 'NCHW' },
    { name: 'NCHW 2x4 valid strides [2,1]', x: [2, 2, 10, 9], filter: [2, 4, 2, 3], strides: [2, 1], pad: 'valid', dataFormat: 'NCHW' },
  ];
  for (const c of directCases) {
    test(`runKernel of both conv backprops matches cpu and leaks nothing: ${c.name}, ${c.dataFormat}`, async () => {
      const dataFormat = c.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast';
      const dyShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, false, dataFormat).outShape;
      const xVals = floats(rng, c.x);
      const fVals = floats(rng, c.filter);
      const dyVals = floats(rng, dyShape);
      const common = { strides: c.strides, pad: c.pad, dataFormat: c.dataFormat };
      const backprops = () => {
        const dy = tf.tensor(dyVals, dyShape);
        const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap) => tf.engine().runKernel(name, inputs, attrs) as tf.Tensor;
        const dW = run('Conv2DBackpropFilter', { x: tf.tensor(xVals, c.x), dy }, { ...common, filterShape: c.filter });
        const dX = run('Conv2DBackpropInput', { dy, filter: tf.tensor(fVals, c.filter) }, { ...common, inputShape: c.x });
        return { dW: dW.dataSync() as Float32Array, dWShape: dW.shape, dX: dX.dataSync() as Float32Array, dXShape: dX.shape };
      };
      const expected = await on('cpu', backprops);
      await tf.setBackend('wasm');
      const idsBefore = wasmDataIds();
      const actual = await on('wasm', backprops);
      assert.equal(wasmDataIds(), idsBefore, 'wasm data ids leaked');
      assert.deepEqual(actual.dWShape, c.filter);
      assert.deepEqual(actual.dXShape, c.x);
      assertClose(actual.dW, expected.dW, 'filter gradient');
      assertClose(actual.dX, expected.dX, 'input gradient');
    });
  }

  test('dilations (direct kernel attr) match a plain-loop reference', async () => {
    const x: [number, number, number, number] = [2, 11, 10, 3];
    const filter: [number, number, number, number] = [3, 2, 3, 4];
    const dilations: [number, number] = [2, 3];
    const info = tf.backend_util.computeConv2DInfo(x, filter, 1, dilations, 'same');
    const xVals = floats(rng, x);
    const dyVals = floats(rng, info.outShape);
    const expected = new Float64Array(size(filter));
    const [, H, W, C] = x;
    const [, Ho, Wo, O] = info.outShape;
    for (let b = 0; b < x[0]; b++)
      for (let y = 0; y < Ho; y++)
        for (let xo = 0; xo < Wo; xo++)
          for (let i = 0; i < filter[0]; i++)
            for (let j = 0; j < filter[1]; j++) {
              const r = y + i * dilations[0] - info.padInfo.top;
              const s = xo + j * dilations[1] - info.padInfo.left;
              if (r < 0 || r >= H || s < 0 || s >= W) continue;
              for (let c = 0; c < C; c++)
                for (let o = 0; o < O; o++)
                  expected[((i * filter[1] + j) * C + c) * O + o] += xVals[((b * H + r) * W + s) * C + c] * dyVals[((b * Ho + y) * Wo + xo) * O + o];
            }
    const actual = await on(
      'wasm',
      () =>
        (
          tf
            .engine()
            .runKernel(
              'Conv2DBackpropFilter',
              { x: tf.tensor(xVals, x), dy: tf.tensor(dyVals, info.outShape) },
              { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: filter, dilations },
            ) as tf.Tensor
        ).dataSync() as Float32Array,
    );
    assertClose(actual, expected, 'dilated filter gradient');
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  const rng = freshRng('wasm UnsortedSegmentSum');
  const cases: { name: string; x: number[]; ids: number[]; numSegments: number; idValues?: (i: number) => number }[] = [
    { name: '1-D, repeated ids', x: [9], ids: [9], numSegments: 4 },
    { name: '2-D, empty segments', x: [7, 3], ids: [7], numSegments: 9 },
    { name: '3-D slices', x: [5, 2, 3], ids: [5], numSegments: 3 },
    { name: '2-D ids over a 3-D x', x: [3, 4, 2], ids: [3, 4], numSegments: 5 },
    { name: 'out-of-range ids are dropped', x: [6, 2], ids: [6], numSegments: 3, idValues: (i) => [-1, 0, 3, 2, 7, 0][i] },
    { name: 'no ids', x: [0, 3], ids: [0], numSegments: 2 },
  ];
  for (const dtype of ['float32', 'int32'] as const) {
    for (const c of cases) {
      test(`${dtype} ${c.name}`, async () => {
        const xVals = dtype === 'int32' ? Int32Array.from({ length: size(c.x) }, () => rng.int(101) - 50) : floats(rng, c.x);
        // Ids drawn from the lower part of the range so the last segments stay empty.
        const idVals = Int32Array.from({ length: size(c.ids) }, (_, i) => (c.idValues ? c.idValues(i) : rng.int(Math.max(1, c.numSegments - 2))));
        const sliceShape = c.x.slice(c.ids.length);
        const sliceSize = size(sliceShape);
        const expected = new Float64Array(c.numSegments * sliceSize);
        idVals.forEach((id, i) => {
          if (id < 0 || id >= c.numSegments) return;
          for (let j = 0; j < sliceSize; j++) expected[id * sliceSize + j] += xVals[i * sliceSize + j];
        });
        const run = (): { values: Float32Array | Int32Array; shape: number[]; dtype: string } => {
          // The op is typed for 1-D ids; the kernel takes any prefix of x's shape, as in TF.
          const ids: tf.Tensor = tf.tensor(idVals, c.ids, 'int32');
          const out = tf.unsortedSegmentSum(tf.tensor(xVals, c.x, dtype), ids as tf.Tensor1D, c.numSegments);
          return { values: out.dataSync() as Float32Array | Int32Array, shape: out.shape, dtype: out.dtype };
        };
        const actual = await on('wasm', run);
        assert.deepEqual(actual.shape, [c.numSegments, ...sliceShape]);
        // TF keeps x's dtype (tfjs's cpu kernel returns float32 for int32 x).
        assert.equal(actual.dtype, dtype);
        if (dtype === 'int32') assert.deepEqual(Array.from(actual.values), Array.from(expected));
        else if (expected.length > 0) assertClose(actual.values, expected, 'segment sums');
        // tfjs's cpu kernel mishandles ids of rank > 1 (a broadcast error), so it is compared on 1-D ids only.
        if (c.ids.length === 1 && expected.length > 0) {
          const cpu = await on('cpu', run);
          assertClose(actual.values, cpu.values, 'segment sums against cpu');
        }
      });
    }
  }
});

describe('gradient of tf.gather on wasm', () => {
  const rng = freshRng('wasm gather gradient');
  const cases: { name: string; x: number[]; indices: number[]; axis: number; batchDims: number }[] = [
    { name: 'axis 0, repeated indices', x: [6, 4], indices: [9], axis: 0, batchDims: 0 },
    { name: 'axis 1, 2-D indices', x: [3, 7], indices: [2, 4], axis: 1, batchDims: 0 },
    { name: 'axis 1 of a 3-D x (outer and inner > 1)', x: [3, 4, 6], indices: [5], axis: 1, batchDims: 0 },
    { name: 'axis -1', x: [3, 5], indices: [4], axis: -1, batchDims: 0 },
    { name: 'batchDims 1 (patch selection)', x: [4, 6, 3], indices: [4, 5], axis: 1, batchDims: 1 },
    { name: 'batchDims 1, axis 2', x: [2, 3, 5, 2], indices: [2, 4], axis: 2, batchDims: 1 },
    { name: 'batchDims 1, indices per batch != batch size', x: [3, 6, 2], indices: [3, 4], axis: 1, batchDims: 1 },
    { name: 'batchDims 2', x: [2, 3, 5, 2], indices: [2, 3, 4], axis: 2, batchDims: 2 },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const axis = c.axis < 0 ? c.axis + c.x.length : c.axis;
      const dim = c.x[axis];
      const xVals = floats(rng, c.x);
      const idxVals = Int32Array.from({ length: size(c.indices) }, () => rng.int(dim));
      const outShape = [...c.x.slice(0, axis), ...c.indices.slice(c.batchDims), ...c.x.slice(axis + 1)];
      const wVals = floats(rng, outShape);
      const run = (): { forward: Float32Array; grad: Float32Array } => {
        const x = tf.tensor(xVals, c.x);
        const indices = tf.tensor(idxVals, c.indices, 'int32');
        const w = tf.tensor(wVals, outShape);
        const loss = (x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, indices, c.axis, c.batchDims), w));
        return {
          forward: tf.gather(x, indices, c.axis, c.batchDims).dataSync() as Float32Array,
          grad: tf.grad(loss)(x).dataSync() as Float32Array,
        };
      };
      // Reference: x viewed as [batch, outer, dim, inner], w as [batch, outer, perBatch, inner].
      const batch = size(c.x.slice(0, c.batchDims));
      const outer = size(c.x.slice(c.batchDims, axis));
      const inner = size(c.x.slice(axis + 1));
      const perBatch = idxVals.length / batch;
      const expected = new Float64Array(xVals.length);
      for (let b = 0; b < batch; b++)
        for (let o = 0; o < outer; o++)
          for (let p = 0; p < perBatch; p++)
            for (let r = 0; r < inner; r++)
              expected[((b * outer + o) * dim + idxVals[b * perBatch + p]) * inner + r] += wVals[((b * outer + o) * perBatch + p) * inner + r];
      const cpu = await on('cpu', run);
      assertClose(cpu.grad, expected, 'cpu gather gradient');
      const wasm = await on('wasm', run);
      assertClose(wasm.forward, cpu.forward, 'wasm gather');
      assertClose(wasm.grad, expected, 'wasm gather gradient');
    });
  }

  test('batched gather on wasm still rejects out-of-range indices and keeps int32', async () => {
    await tf.setBackend('wasm');
    tf.tidy(() => {
      const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32');
      const gathered = tf.gather(
        x,
        tf.tensor2d(
          [
            [1, 1, 0],
            [0, 1, 1],
          ],
          [2, 3],
          'int32',
        ),
        1,
        1,
      );
      assert.equal(gathered.dtype, 'int32');
      assert.deepEqual(gathered.arraySync(), [
        [
          [3, 4],
          [3, 4],
          [1, 2],
        ],
        [
          [5, 6],
          [7, 8],
          [7, 8],
        ],
      ]);
      assert.throws(() => tf.gather(x, tf.tensor2d([[0], [2]], [2, 1], 'int32'), 1, 1), /not in \[0, 1\]/);
    });
  });
});

interface MatMulCase {
  name: string;
  a: number[];
  b: number[];
  out: number[];
  transposeA: boolean;
  transposeB: boolean;
  /** tfjs's BatchMatMul gradient rejects broadcast batches (on every backend). */
  grads: boolean;
}

/** The stored shapes of op(a) [..., M, K] x op(b) [..., K, N]. */
function operandShapes(batchA: number[], batchB: number[], m: number, k: number, n: number, tA: boolean, tB: boolean): [number[], number[]] {
  return [
    [...batchA, ...(tA ? [k, m] : [m, k])],
    [...batchB, ...(tB ? [n, k] : [k, n])],
  ];
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

function matMulCases(): MatMulCase[] {
  const cases: MatMulCase[] = [];
  // [batchA, batchB, M, K, N]
  const shapes: [string, number[], number[], number, number, number][] = [
    ['2-D 320x784 . 784x40', [], [], 320, 784, 40],
    ['2-D 784x320 . 320x40 (the transposeA gradient shape)', [], [], 784, 320, 40],
    ['2-D 5x120 . 120x784 (few rows, wide right operand)', [], [], 5, 120, 784],
    ['2-D 1x1 . 1x1', [], [], 1, 1, 1],
    ['2-D M = 1', [], [], 1, 64, 33],
    ['2-D N = 1', [], [], 47, 64, 1],
    ['2-D tiny 3x2 . 2x4', [], [], 3, 2, 4],
    ['batched 8x(120x784 . 784x5)', [8], [8], 120, 784, 5],
    ['batched 4x(30x50 . 50x20)', [4], [4], 30, 50, 20],
    ['batched tiny 4x(2x3 . 3x2)', [4], [4], 2, 3, 2],
    ['batched M = 1 and N = 1', [6], [6], 1, 40, 1],
    ['rank 4, batch [2, 3]', [2, 3], [2, 3], 17, 40, 9],
    ['broadcast a batch 1 vs b batch 4', [1], [4], 25, 40, 30],
    ['broadcast a batch 4 vs b batch 1', [4], [1], 25, 40, 30],
    ['broadcast a rank 2 vs b rank 3', [], [4], 25, 40, 30],
    ['broadcast a rank 3 vs b rank 2', [4], [], 25, 40, 30],
    ['broadcast a rank 3 vs b rank 2, few rows', [3], [], 2, 60, 90],
    ['broadcast a rank 4 [2, 1] vs b rank 3 [1]', [2, 1], [1], 12, 40, 30],
    ['broadcast tiny, a batch 1 vs b batch 4', [1], [4], 2, 3, 2],
    ['broadcast tiny, a rank 3 vs b rank 2', [4], [], 2, 3, 2],
  ];
  for (const [name, batchA, batchB, m, k, n] of shapes) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      const [a, b] = operandShapes(batchA, batchB, m, k, n, transposeA, transposeB);
      const batch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
      cases.push({
        name: `${name}, transposeA ${transposeA}, transposeB ${transposeB}`,
        a,
        b,
        out: [...batch, m, n],
        transposeA,
        transposeB,
        grads: tf.util.arraysEqual(batchA, batchB),
      });
    }
  }
  return cases;
}

describe('matMul on wasm (BatchMatMul and _FusedMatMul wrapped)', () => {
  test('are wrapped once: registering again does not wrap the wrappers', () => {
    const names = ['BatchMatMul', '_FusedMatMul'];
    const wrapped = names.map((name) => tf.getKernel(name, 'wasm').kernelFunc);
    registerWasmKernels();
    assert.deepEqual(
      names.map((name) => tf.getKernel(name, 'wasm').kernelFunc),
      wrapped,
    );
  });

  const rng = freshRng('wasm matMul');
  for (const c of matMulCases()) {
    test(`forward ${c.grads ? 'and tf.grads match' : 'matches'} cpu, no leaked ids: ${c.name}`, async () => {
      const aVals = floats(rng, c.a);
      const bVals = floats(rng, c.b);
      const probeVals = floats(rng, c.out);
      const run = () => {
        const a = tf.tensor(aVals, c.a);
        const b = tf.tensor(bVals, c.b);
        const product = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, c.transposeA, c.transposeB);
        const out = product(a, b);
        const probe = tf.tensor(probeVals, c.out);
        const grads = c.grads ? tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(product(x, y), probe)))([a, b]) : [];
        const values = (t?: tf.Tensor) => (t?.dataSync() ?? new Float32Array()) as Float32Array;
        return { out: values(out), shape: out.shape, da: values(grads[0]), db: values(grads[1]) };
      };
      const expected = await on('cpu', run);
      await tf.setBackend('wasm');
      const idsBefore = wasmDataIds();
      const actual = await on('wasm', run);
      assert.equal(wasmDataIds(), idsBefore, 'wasm data ids leaked');
      assert.deepEqual(actual.shape, expected.shape);
      assertClose(actual.out, expected.out, 'product');
      assertClose(actual.da, expected.da, 'gradient of a');
      assertClose(actual.db, expected.db, 'gradient of b');
    });
  }
});

describe('tf.fused.matMul on wasm', () => {
  const rng = freshRng('wasm fused matMul');
  type Activation = 'linear' | 'relu' | 'relu6' | 'prelu' | 'leakyrelu' | 'sigmoid' | 'elu';
  interface FusedCase {
    name: string;
    batchA: number[];
    batchB: number[];
    m: number;
    k: number;
    n: number;
    bias?: number[];
    activation: Activation;
    prelu?: number[];
    grads?: boolean;
  }
  const cases: FusedCase[] = [
    { name: '2-D, bias, relu', batchA: [], batchB: [], m: 40, k: 64, n: 24, bias: [24], activation: 'relu', grads: true },
    { name: 'batched, bias, relu', batchA: [3], batchB: [3], m: 20, k: 30, n: 12, bias: [12], activation: 'relu', grads: true },
    { name: 'batched, no bias, linear', batchA: [4], batchB: [4], m: 9, k: 16, n: 7, activation: 'linear', grads: true },
    { name: 'a batched, b shared, bias, relu', batchA: [3], batchB: [1], m: 10, k: 20, n: 6, bias: [6], activation: 'relu' },
    { name: 'a shared, b batched, bias, linear', batchA: [1], batchB: [3], m: 10, k: 20, n: 6, bias: [6], activation: 'linear' },
    { name: 'length-1 bias, linear', batchA: [], batchB: [], m: 5, k: 7, n: 3, bias: [1], activation: 'linear' },
    { name: 'batched, bias, prelu with [N] weights', batchA: [2], batchB: [2], m: 5, k: 7, n: 3, bias: [3], activation: 'prelu', prelu: [3] },
    { name: '2-D, bias, prelu with [M, N] weights', batchA: [], batchB: [], m: 5, k: 7, n: 3, bias: [3], activation: 'prelu', prelu: [5, 3] },
    { name: 'batched, bias, leakyrelu', batchA: [2], batchB: [2], m: 6, k: 8, n: 5, bias: [5], activation: 'leakyrelu' },
    { name: '2-D, bias, sigmoid', batchA: [], batchB: [], m: 6, k: 8, n: 5, bias: [5], activation: 'sigmoid' },
    { name: 'batched, bias, elu', batchA: [2], batchB: [2], m: 6, k: 8, n: 5, bias: [5], activation: 'elu' },
    { name: '2-D, bias, relu6, M = 1', batchA: [], batchB: [], m: 1, k: 8, n: 5, bias: [5], activation: 'relu6' },
  ];
  for (const c of cases) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      const name = `${c.name}, transposeA ${transposeA}, transposeB ${transposeB}`;
      test(`${c.grads ? 'forward and tf.grads match' : 'forward matches'} cpu, no leaked ids: ${name}`, async () => {
        const [aShape, bShape] = operandShapes(c.batchA, c.batchB, c.m, c.k, c.n, transposeA, transposeB);
        const outShape = [...tf.backend_util.assertAndGetBroadcastShape(c.batchA, c.batchB), c.m, c.n];
        const aVals = floats(rng, aShape);
        const bVals = floats(rng, bShape);
        const biasVals = c.bias ? floats(rng, c.bias) : undefined;
        const preluVals = c.prelu ? Float32Array.from(floats(rng, c.prelu), Math.abs) : undefined;
        const probeVals = floats(rng, outShape);
        const run = () => {
          const a = tf.tensor(aVals, aShape);
          const b = tf.tensor(bVals, bShape);
          const bias = biasVals && c.bias ? tf.tensor(biasVals, c.bias) : undefined;
          const preluActivationWeights = preluVals && c.prelu ? tf.tensor(preluVals, c.prelu) : undefined;
          const product = (x: tf.Tensor, y: tf.Tensor, z?: tf.Tensor) =>
            tf.fused.matMul({
              a: x,
              b: y,
              transposeA,
              transposeB,
              bias: z,
              activation: c.activation,
              preluActivationWeights,
              leakyreluAlpha: 0.2,
            });
          const out = product(a, b, bias);
          const probe = tf.tensor(probeVals, outShape);
          const grads =
            c.grads && bias
              ? tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(product(x, y, z), probe)))([a, b, bias])
              : c.grads
                ? tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(product(x, y), probe)))([a, b])
                : [];
          return { out: out.dataSync() as Float32Array, shape: out.shape, grads: grads.map((g) => g.dataSync() as Float32Array) };
        };
        const expected = await on('cpu', run);
        await tf.setBackend('wasm');
        const idsBefore = wasmDataIds();
        const actual = await on('wasm', run);
        assert.equal(wasmDataIds(), idsBefore, 'wasm data ids leaked');
        assert.deepEqual(actual.shape, outShape);
        assertClose(actual.out, expected.out, 'fused product');
        assert.equal(actual.grads.length, expected.grads.length);
        actual.grads.forEach((g, i) => assertClose(g, expected.grads[i], `gradient ${i}`));
      });
    }
  }
});

describe('matMul on wasm with a right operand reshaped after use', () => {
  // tf.reshape keeps the data id, under which the wasm kernels cache XNNPACK's packed weights:
  // tfjs 4.22 alone aborts the wasm module here.
  test('each [K, N] view of the same data gives its own product', async () => {
    const rng = freshRng('wasm matMul reshaped weights');
    const wVals = floats(rng, [6, 4]);
    const xVals = floats(rng, [3, 24]);
    const run = () => {
      const w = tf.tensor(wVals, [6, 4]);
      const x = tf.tensor(xVals, [3, 24]);
      const results: Float32Array[] = [];
      for (const [k, n] of [
        [6, 4],
        [12, 2],
        [4, 6],
        [6, 4],
        [24, 1],
      ]) {
        const left = tf.slice(x, [0, 0], [3, k]);
        results.push(tf.matMul(left, tf.reshape(w, [k, n])).dataSync() as Float32Array);
        const bias = tf.ones([n]);
        results.push(tf.fused.matMul({ a: left, b: tf.reshape(w, [k, n]), bias, activation: 'relu' }).dataSync() as Float32Array);
      }
      return results;
    };
    const expected = await on('cpu', run);
    await tf.setBackend('wasm');
    const idsBefore = wasmDataIds();
    const actual = await on('wasm', run);
    assert.equal(wasmDataIds(), idsBefore, 'wasm data ids leaked');
    actual.forEach((values, i) => assertClose(values, expected[i], `product ${i}`));
  });

  test('empty products: M = 0 and K = 0', async () => {
    const run = () =>
      [
        tf.matMul(tf.zeros([0, 3]), tf.ones([3, 4])),
        tf.matMul(tf.ones([2, 0]), tf.ones([0, 4])),
        tf.matMul(tf.ones([3, 2, 0]), tf.ones([3, 0, 4])),
        tf.matMul(tf.ones([0, 2]), tf.ones([4, 0]), true, true),
      ].map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }));
    const expected = await on('cpu', run);
    const actual = await on('wasm', run);
    assert.deepEqual(actual, expected);
  });
});

describe('Sum and Mean on wasm (float64 accumulation)', () => {
  const shape = [32, 32, 32, 16] as const;
  const strides = [32 * 32 * 16, 32 * 16, 16, 1];

  /** Per-channel values whose sum is nearly zero: the cancellation batch norm's gradient sums meet. */
  function cancelling(rng: Rng): Float32Array {
    const [rows, cols] = [32 * 32 * 32, 16];
    const values = Float32Array.from(gaussian(rng, rows * cols));
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += values[r * cols + c];
      for (let r = 0; r < rows; r++) values[r * cols + c] -= sum / rows;
    }
    return values;
  }

  /** Exact (float64) sums and sums of |x| of the float32 values over `axes`. */
  function reference(values: Float32Array, axes: readonly number[]): { sums: Float64Array; absSums: Float64Array } {
    const kept = [0, 1, 2, 3].filter((a) => !axes.includes(a));
    const size = kept.reduce((n, a) => n * shape[a], 1);
    const sums = new Float64Array(size);
    const absSums = new Float64Array(size);
    for (let i = 0; i < values.length; i++) {
      let out = 0;
      for (const a of kept) out = out * shape[a] + (Math.floor(i / strides[a]) % shape[a]);
      sums[out] += values[i];
      absSums[out] += Math.abs(values[i]);
    }
    return { sums, absSums };
  }

  for (const [what, axes, accurate] of [
    ['leading axes (per-channel sums of [B, H, W, C])', [0, 1, 2], true],
    ['the trailing axis', [3], true],
    ['every axis', [0, 1, 2, 3], true],
    ['a middle axis (the original kernel)', [1], false],
  ] as const) {
    test(`${what}: the exact sum of the float32 values, rounded once`, async () => {
      await initEngine('wasm');
      const values = cancelling(freshRng(`wasm-sum-${what}`));
      const x = tf.tensor4d(values, [...shape]);
      const { sums, absSums } = reference(values, axes);
      const count = axes.reduce((n: number, a) => n * shape[a], 1);
      for (const mean of [false, true]) {
        for (const keepDims of [false, true]) {
          const result = tf.tidy(() => (mean ? tf.mean(x, [...axes], keepDims) : tf.sum(x, [...axes], keepDims)));
          assert.equal(result.rank, keepDims ? 4 : 4 - axes.length);
          const actual = result.dataSync();
          result.dispose();
          for (let i = 0; i < sums.length; i++) {
            const expected = mean ? sums[i] / count : sums[i];
            const scale = mean ? absSums[i] / count : absSums[i];
            // Float64 accumulation leaves only the final rounding; float32 in order loses ~1e-5 of sum |x| here.
            const allowed = accurate ? 1e-7 * Math.abs(expected) + 1e-12 * scale : 1e-5 * scale;
            assert.ok(Math.abs(actual[i] - expected) <= allowed, `${mean ? 'mean' : 'sum'}[${i}]: ${actual[i]} vs ${expected} (sum of |x| ${scale})`);
          }
        }
      }
      x.dispose();
    });
  }
});

describe('inference batch norm on wasm (FusedBatchNorm wrapped)', () => {
  /** y = (x - mean) scale / sqrt(variance + eps) + offset in float64, over the last axis. */
  function reference(
    x: Float32Array,
    channels: number,
    p: Record<'mean' | 'variance' | 'scale' | 'offset', Float32Array | undefined>,
    eps: number,
  ): Float64Array {
    return Float64Array.from(x, (v, i) => {
      const c = i % channels;
      return ((v - p.mean![c]) * (p.scale ? p.scale[c] : 1)) / Math.sqrt(p.variance![c] + eps) + (p.offset ? p.offset[c] : 0);
    });
  }

  for (const [name, shape, withScale, withOffset] of [
    ['[4, 8, 8, 16], scale and offset', [4, 8, 8, 16], true, true],
    ['[3, 5, 5, 12], no scale', [3, 5, 5, 12], false, true],
    ['[2, 7, 32], no offset', [2, 7, 32], true, false],
    ['[6, 5] (5 channels: the original kernel)', [6, 5], true, true],
  ] as const) {
    test(`matches a float64 loop and cpu, leaks nothing: ${name}`, async () => {
      const rng = freshRng(`wasm-batchnorm-${name}`);
      const channels = shape[shape.length - 1];
      const x = floats(rng, shape);
      const mean = floats(rng, [channels]);
      const variance = Float32Array.from(floats(rng, [channels]), (v) => v * v + 0.1);
      const scale = withScale ? floats(rng, [channels]) : undefined;
      const offset = withOffset ? floats(rng, [channels]) : undefined;
      const eps = 1e-3;
      const run = () => {
        const t = (values: Float32Array | undefined) => (values ? tf.tensor1d(values) : undefined);
        return tf
          .batchNorm(tf.tensor(x, [...shape]), tf.tensor1d(mean), tf.tensor1d(variance), t(offset), t(scale), eps)
          .dataSync()
          .slice();
      };
      const expected = reference(x, channels, { mean, variance, scale, offset }, eps);
      await tf.setBackend('wasm');
      const before = wasmDataIds();
      const wasm = await on('wasm', run);
      assert.equal(wasmDataIds(), before, 'wasm tensors left allocated');
      const cpu = await on('cpu', run);
      assertClose(wasm, expected, 'wasm vs float64');
      assertClose(cpu, expected, 'cpu vs float64');
      await tf.setBackend('wasm');
    });
  }

  test('is wrapped once: registering again does not wrap the wrapper', () => {
    const before = tf.getKernel('FusedBatchNorm', 'wasm')!.kernelFunc;
    registerWasmKernels();
    assert.equal(tf.getKernel('FusedBatchNorm', 'wasm')!.kernelFunc, before);
  });
});
