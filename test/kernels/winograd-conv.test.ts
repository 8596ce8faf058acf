import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../../src/engine/backend.js';
import { convFilterGradient, convForward, convGeometry, convInputGradient, directApplies, type ConvGeometry } from '../../src/kernels/conv-gemm.js';
import { gemmThreads, newSharedMemory, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import {
  winogradFilterGradient,
  winogradFilterGradientAt,
  winogradForward,
  winogradForwardAt,
  winogradInputGradient,
  winogradInputGradientAt,
  winogradScratchFloats,
  type WinogradTarget,
  type WinogradTile,
} from '../../src/kernels/winograd-conv.js';
import { maxRelativeError, referenceFilterGradient, referenceForward, referenceInputGradient } from '../../bench/conv-reference.js';
import { freshRng, gaussian } from '../support/random.js';
import type { ConvCase } from '../support/conv-case.js';

/**
 * Tolerances, max |kernel - float64| / max |float64|: four times the worst error that
 * bench/winograd-error.ts measured for each algorithm over the Wide-ResNets' layers and odd
 * shapes (docs/kernels.md, "Numerical error": F(2x2, 3x3) at most 9.3e-7, F(4x4, 3x3) 1.7e-5 at
 * 320 channels and 8.5e-6 up to 64, the direct products 2.7e-6).
 */
const TOLERANCE: Record<WinogradTile, number> = { 2: 4e-6, 4: 7e-5 };
const DIRECT_TOLERANCE = 1.1e-5;

/** 3x3 stride-1 geometries: the Wide-ResNets' layers (bench case d's batch) and shapes with odd edges. */
const CASES: ConvCase[] = [
  { name: 'WRN stem, RGB (3 input channels widened to 4)', x: [32, 32, 32, 3], filter: [3, 3, 3, 16], strides: 1, pad: 'same' },
  { name: 'WRN stem, grey (1 input channel)', x: [8, 32, 32, 1], filter: [3, 3, 1, 16], strides: 1, pad: 'same' },
  { name: 'WRN block1, 16 -> 16 at 32x32', x: [32, 32, 32, 16], filter: [3, 3, 16, 16], strides: 1, pad: 'same' },
  { name: 'WRN block2, 32 -> 32 at 16x16', x: [32, 16, 16, 32], filter: [3, 3, 32, 32], strides: 1, pad: 'same' },
  { name: 'WRN block3, 64 -> 64 at 8x8', x: [16, 8, 8, 64], filter: [3, 3, 64, 64], strides: 1, pad: 'same' },
  { name: 'batch 1, odd map 13x11, 5 -> 12 channels', x: [1, 13, 11, 5], filter: [3, 3, 5, 12], strides: 1, pad: 'same' },
  { name: "'valid' (no padding), 7 -> 8 channels", x: [2, 10, 9, 7], filter: [3, 3, 7, 8], strides: 1, pad: 'valid' },
  {
    name: 'explicit asymmetric padding (2 top, 0 bottom, 0 left, 1 right), 6 -> 4 channels',
    x: [3, 7, 6, 6],
    filter: [3, 3, 6, 4],
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
  { name: 'a map smaller than a tile (2x3), 4 -> 4 channels', x: [2, 2, 3, 4], filter: [3, 3, 4, 4], strides: 1, pad: 'same' },
  {
    name: 'padding wider than the kernel (3 top, 3 right), 4 -> 8 channels',
    x: [2, 6, 7, 4],
    filter: [3, 3, 4, 8],
    strides: 1,
    pad: [
      [0, 0],
      [3, 0],
      [0, 3],
      [0, 0],
    ],
  },
];

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

let backend: BackendWasm;
function read(info: tf.TensorInfo | null): Float32Array {
  assert.ok(info, 'the kernel took the shape');
  const values = (backend.typedArrayFromHeap(info) as Float32Array).slice();
  backend.disposeData(info.dataId);
  return values;
}

interface Prepared {
  geometry: ConvGeometry;
  x: tf.Tensor;
  f: tf.Tensor;
  dy: tf.Tensor;
  bias: tf.Tensor;
  expected: { forward: Float64Array; inputGradient: Float64Array; filterGradient: Float64Array };
}

async function prepare(c: ConvCase): Promise<Prepared> {
  await initEngine('wasm');
  backend = tf.backend() as BackendWasm;
  const rng = freshRng(`winograd-conv ${c.name}`);
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad);
  const geometry = convGeometry(info);
  assert.ok(geometry, 'pmoe takes the geometry');
  const ci = c.filter[2];
  const [xVals, fVals, dyVals, bVals] = [
    gaussian(rng, size(c.x)),
    gaussian(rng, size(c.filter), 1 / Math.sqrt(9 * ci)),
    gaussian(rng, size(info.outShape)),
    gaussian(rng, c.filter[3]),
  ].map((values) => Float32Array.from(values));
  return {
    geometry,
    x: tf.tensor4d(xVals, c.x),
    f: tf.tensor4d(fVals, c.filter),
    dy: tf.tensor(dyVals, info.outShape),
    bias: tf.tensor1d(bVals),
    expected: {
      forward: referenceForward(geometry, xVals, fVals, bVals),
      inputGradient: referenceInputGradient(geometry, dyVals, fVals),
      filterGradient: referenceFilterGradient(geometry, xVals, dyVals),
    },
  };
}

function winograd(p: Prepared, m: WinogradTile) {
  return {
    forward: read(winogradForward(backend, p.x, p.f, p.bias, p.geometry, m)),
    inputGradient: read(winogradInputGradient(backend, p.dy, p.f, p.geometry, m)),
    filterGradient: read(winogradFilterGradient(backend, p.x, p.dy, p.geometry, m)),
  };
}

after(() => setGemmThreads(true));

describe('winograd-conv: F(2x2, 3x3) and F(4x4, 3x3) against a float64 loop and the direct products', () => {
  for (const c of CASES) {
    test(`${c.name}: every pass, both tiles, one thread and two, within the measured error; both threads give one thread's floats`, async () => {
      const p = await prepare(c);
      const idsBefore = backend.numDataIds();
      setGemmThreads(false);
      const direct = directApplies(p.geometry)
        ? {
            forward: read(convForward(backend, p.x, p.f, p.bias, p.geometry)),
            inputGradient: read(convInputGradient(backend, p.dy, p.f, p.geometry)),
            filterGradient: read(convFilterGradient(backend, p.x, p.dy, p.geometry)),
          }
        : null;
      for (const m of [2, 4] as const) {
        setGemmThreads(false);
        const one = winograd(p, m);
        setGemmThreads(true);
        const two = winograd(p, m);
        for (const pass of ['forward', 'inputGradient', 'filterGradient'] as const) {
          const error = maxRelativeError(one[pass], p.expected[pass]);
          assert.ok(error < TOLERANCE[m], `F(${m}x${m}) ${pass}: error ${error.toExponential(2)} against float64, tolerance ${TOLERANCE[m]}`);
          if (direct) {
            const apart = maxRelativeError(one[pass], direct[pass]);
            assert.ok(apart < TOLERANCE[m] + DIRECT_TOLERANCE, `F(${m}x${m}) ${pass}: ${apart.toExponential(2)} from the direct products`);
          }
          assert.deepEqual(two[pass], one[pass], `F(${m}x${m}) ${pass}: two threads differ from one`);
        }
      }
      assert.equal(backend.numDataIds(), idsBefore, 'heap tensors leaked');
      tf.dispose([p.x, p.f, p.dy, p.bias]);
    });
  }

  test('the direct products are within their own tolerance of float64 on these shapes (the yardstick above)', async () => {
    setGemmThreads(true);
    const p = await prepare(CASES[3]);
    for (const [pass, values] of [
      ['forward', read(convForward(backend, p.x, p.f, p.bias, p.geometry))],
      ['inputGradient', read(convInputGradient(backend, p.dy, p.f, p.geometry))],
      ['filterGradient', read(convFilterGradient(backend, p.x, p.dy, p.geometry))],
    ] as const) {
      const error = maxRelativeError(values, p.expected[pass]);
      assert.ok(error < DIRECT_TOLERANCE, `direct ${pass}: ${error.toExponential(2)}`);
    }
    tf.dispose([p.x, p.f, p.dy, p.bias]);
  });

  test("on byte addresses of another shared memory (a training step's own arena), split across the threads: the heap's floats", async (t) => {
    setGemmThreads(true);
    const threads = gemmThreads();
    if (threads === null) return t.skip('the two-thread products need two cores and worker threads');
    // 5 input channels, widened to 8 by the caller as a trainer's maps are; tiles and chunks enough for two threads.
    const p = await prepare({ name: 'arena', x: [8, 13, 11, 5], filter: [3, 3, 5, 12], strides: 1, pad: 'same' });
    const memory = newSharedMemory();
    const shared = threads.attach(memory);
    const target: WinogradTarget = {
      winograd: shared.winograd,
      ints: () => new Int32Array(memory.buffer),
      floats: () => new Float32Array(memory.buffer),
      split: (name, blocks) => {
        if (blocks.length < 2) return shared.winograd[name](blocks[0]);
        splits++;
        threads.split(name, [blocks[1]], () => shared.winograd[name](blocks[0]), shared);
      },
    };
    let splits = 0;
    let top = 64;
    const alloc = (floats: number) => {
      const at = top;
      top += Math.ceil(floats / 16) * 16 * 4;
      if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
      return at;
    };
    const g = p.geometry;
    const width = 8;
    const pixels = (h: number, w: number) => g.batch * h * w;
    const [x, filter, bias, dy, zero] = [
      alloc(pixels(g.inHeight, g.inWidth) * width),
      alloc(9 * 5 * 12),
      alloc(12),
      alloc(pixels(g.outHeight, g.outWidth) * 12),
      alloc(width),
    ];
    const [out, dx, dW] = [alloc(pixels(g.outHeight, g.outWidth) * 12), alloc(pixels(g.inHeight, g.inWidth) * width), alloc(9 * 5 * 12)];
    const scratch = (m: WinogradTile) =>
      Math.max(...(['forward', 'inputGradient', 'filterGradient'] as const).map((pass) => winogradScratchFloats(g, m, pass)));
    const scratchAt = alloc(scratch(4));
    const floats = () => new Float32Array(memory.buffer);
    const xValues = p.x.dataSync();
    for (let i = 0; i < xValues.length / 5; i++) for (let ch = 0; ch < 5; ch++) floats()[x / 4 + i * width + ch] = xValues[i * 5 + ch];
    floats().set(p.f.dataSync(), filter / 4);
    floats().set(p.bias.dataSync(), bias / 4);
    floats().set(p.dy.dataSync(), dy / 4);
    for (const m of [2, 4] as const) {
      const heap = winograd(p, m);
      winogradForwardAt(target, g, m, x, filter, bias, out, scratchAt);
      winogradInputGradientAt(target, g, m, dy, filter, dx, zero, scratchAt);
      winogradFilterGradientAt(target, g, m, x, dy, dW, scratchAt);
      const view = floats();
      assert.deepEqual(view.slice(out / 4, out / 4 + heap.forward.length), heap.forward, `F(${m}x${m}) forward`);
      const narrowed = Float32Array.from({ length: heap.inputGradient.length }, (_, i) => view[dx / 4 + Math.floor(i / 5) * width + (i % 5)]);
      assert.deepEqual(narrowed, heap.inputGradient, `F(${m}x${m}) input gradient`);
      for (let i = 0; i < pixels(g.inHeight, g.inWidth); i++)
        for (let ch = 5; ch < width; ch++) assert.equal(view[dx / 4 + i * width + ch], 0, 'padding channels of dx');
      assert.deepEqual(view.slice(dW / 4, dW / 4 + heap.filterGradient.length), heap.filterGradient, `F(${m}x${m}) filter gradient`);
    }
    assert.equal(splits, 6, 'every pass of both tiles split across the threads');
    threads.detach(memory);
    tf.dispose([p.x, p.f, p.dy, p.bias]);
  });

  test('declines what is not a 3x3 stride-1 convolution', async () => {
    await initEngine('wasm');
    backend = tf.backend() as BackendWasm;
    const x = tf.zeros([1, 8, 8, 4]);
    for (const [filter, strides] of [
      [[3, 3, 4, 4], 2],
      [[1, 1, 4, 4], 1],
      [[5, 5, 4, 4], 1],
    ] as const) {
      const f = tf.zeros(filter as unknown as number[]);
      const g = convGeometry(tf.backend_util.computeConv2DInfo([1, 8, 8, 4], filter as unknown as [number, number, number, number], strides, 1, 'same'))!;
      assert.equal(winogradForward(backend, x, f, undefined, g, 4), null);
      assert.equal(winogradFilterGradient(backend, x, x, g, 2), null);
      f.dispose();
    }
    x.dispose();
  });
});
