import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { maxRelativeError, referenceFilterGradient, referenceForward, referenceInputGradient } from '../../bench/conv-reference.js';
import type { ConvGeometry } from '../../src/kernels/conv-gemm.js';
import { gemmThreads, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import { SimdArena } from '../../src/kernels/simd-arena.js';
import { pad4 } from '../../src/kernels/simd-gemm.js';
import type { WinogradTile } from '../../src/kernels/winograd-conv.js';
import {
  DirectConvolution,
  WinogradConvolution,
  directConvolution,
  selectedConvolution,
  selectedTiles,
  type ConvTiles,
  type ConvolutionFactory,
} from '../../src/training/fused-wrn-conv.js';
import { StepMemory } from '../../src/training/fused-wrn-memory.js';
import { freshRng, gaussian } from '../support/random.js';

/**
 * Tolerances, max |kernel - float64| / max |float64|, as test/kernels/winograd-conv.test.ts
 * derives them from docs/kernels.md's error table: four times the worst error measured for each
 * algorithm (F(2x2, 3x3) 9.3e-7, F(4x4, 3x3) 1.7e-5, the direct products 2.7e-6).
 */
const TOLERANCE: Record<WinogradTile | 'direct', number> = { 2: 4e-6, 4: 7e-5, direct: 1.1e-5 };

type Pass = keyof ConvTiles;
const PASSES: readonly Pass[] = ['forward', 'inputGradient', 'filterGradient'];

interface Case {
  readonly name: string;
  /** The batch of the call; the layer is built for one image more (a smaller batch than the capacity). */
  readonly batch: number;
  readonly input: readonly [number, number, number];
  readonly outChannels: number;
  /** Padding at the top and left; 'same' (1) unless given. */
  readonly pad?: number;
  /** A layer on the images: no input gradient, input channels padded to 4 per pixel. */
  readonly readsImages?: boolean;
}

const CASES: Case[] = [
  { name: 'WRN stem, RGB (3 channels padded to 4)', batch: 8, input: [32, 32, 3], outChannels: 16, readsImages: true },
  { name: 'WRN stem, grey (1 channel)', batch: 4, input: [32, 32, 1], outChannels: 16, readsImages: true },
  { name: 'WRN block1, 16 -> 16 at 32x32', batch: 6, input: [32, 32, 16], outChannels: 16 },
  { name: 'WRN block2, 32 -> 32 at 16x16', batch: 8, input: [16, 16, 32], outChannels: 32 },
  { name: 'WRN block3, 64 -> 64 at 8x8', batch: 5, input: [8, 8, 64], outChannels: 64 },
  { name: 'batch 1, odd map 13x11, 8 -> 12 channels', batch: 1, input: [13, 11, 8], outChannels: 12 },
  { name: "'valid' (no padding), 12 -> 8 channels", batch: 3, input: [10, 9, 12], outChannels: 8, pad: 0 },
];

function geometryOf(c: Case, batch: number): ConvGeometry {
  const [inHeight, inWidth, inChannels] = c.input;
  const pad = c.pad ?? 1;
  const [outHeight, outWidth] = [inHeight + 2 * pad - 2, inWidth + 2 * pad - 2];
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels: c.outChannels,
    kernelHeight: 3,
    kernelWidth: 3,
    strideHeight: 1,
    strideWidth: 1,
    top: pad,
    left: pad,
  };
}

interface Inputs {
  /** x [batch, H, W, ci] (unpadded), kernel [3, 3, ci, co], bias [co], dy [batch, outH, outW, co]. */
  readonly x: Float32Array;
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
  readonly dy: Float32Array;
}

function draw(c: Case): Inputs {
  const g = geometryOf(c, c.batch);
  const rng = freshRng(`fused-wrn-conv ${c.name}`);
  const ci = g.inChannels;
  return {
    x: Float32Array.from(gaussian(rng, g.batch * g.inHeight * g.inWidth * ci)),
    kernel: Float32Array.from(gaussian(rng, 9 * ci * g.outChannels, 1 / Math.sqrt(9 * ci))),
    bias: Float32Array.from(gaussian(rng, g.outChannels)),
    dy: Float32Array.from(gaussian(rng, g.batch * g.outHeight * g.outWidth * g.outChannels)),
  };
}

type Results = Record<Pass | 'biasGradient', Float32Array | null>;

/** Builds the layer for batch + 1 images with `algorithm`, runs every pass on the first `batch` and reads the results. */
function run(c: Case, inputs: Inputs, algorithm: ConvolutionFactory, twoThreads: boolean): Results {
  setGemmThreads(twoThreads);
  const g = geometryOf(c, c.batch + 1);
  const arena = new SimdArena(undefined, twoThreads ? gemmThreads() : null);
  try {
    const memory = new StepMemory(arena, g.batch);
    const ci = g.inChannels;
    const width = c.readsImages ? pad4(ci) : ci;
    const x = memory.addMap('x', [g.inHeight, g.inWidth, ci], !c.readsImages, width);
    const y = memory.addMap('y', [g.outHeight, g.outWidth, g.outChannels]);
    const convolution = algorithm(memory, g, x, y, !c.readsImages);
    const [kernel, bias, dKernel, dBias] = [inputs.kernel.length, g.outChannels, inputs.kernel.length, g.outChannels].map((n) => arena.alloc(n));
    memory.finish();
    convolution.prepare();
    const pixels = c.batch * g.inHeight * g.inWidth;
    const xValues = arena.floats(x.value);
    for (let p = 0; p < pixels; p++) xValues.set(inputs.x.subarray(p * ci, (p + 1) * ci), p * width);
    arena.floats(kernel).set(inputs.kernel);
    arena.floats(bias).set(inputs.bias);
    arena.floats(y.grad!).set(inputs.dy);
    convolution.forward(c.batch, kernel.ptr, bias.ptr);
    convolution.filterGradient(c.batch, y.grad!.ptr, dKernel.ptr, dBias.ptr);
    if (!c.readsImages) convolution.inputGradient(c.batch, kernel.ptr, y.grad!.ptr, x.grad!.ptr);
    return {
      forward: arena.floats(y.value).slice(0, inputs.dy.length),
      filterGradient: arena.floats(dKernel).slice(),
      biasGradient: arena.floats(dBias).slice(),
      inputGradient: c.readsImages ? null : arena.floats(x.grad!).slice(0, inputs.x.length),
    };
  } finally {
    arena.dispose();
  }
}

function expected(c: Case, inputs: Inputs): Record<Pass | 'biasGradient', Float64Array | null> {
  const g = geometryOf(c, c.batch);
  const biasGradient = new Float64Array(g.outChannels);
  inputs.dy.forEach((value, i) => (biasGradient[i % g.outChannels] += value));
  return {
    forward: referenceForward(g, inputs.x, inputs.kernel, inputs.bias),
    inputGradient: c.readsImages ? null : referenceInputGradient(g, inputs.dy, inputs.kernel),
    filterGradient: referenceFilterGradient(g, inputs.x, inputs.dy),
    biasGradient,
  };
}

const uniform = (tile: WinogradTile | null): ConvTiles => ({ forward: tile, inputGradient: tile, filterGradient: tile });
const winograd =
  (tiles: ConvTiles): ConvolutionFactory =>
  (memory, g, x, y, withInputGradient) =>
    new WinogradConvolution(memory, g, x, y, withInputGradient, tiles);

after(() => {
  setGemmThreads(true);
  delete process.env.PMOE_CONV;
});

describe("the fused image trainer's Winograd convolutions (training/fused-wrn-conv.ts) against its direct ones and a float64 loop", () => {
  for (const c of CASES) {
    test(`${c.name}: every pass by F(2x2) and F(4x4) within the measured error, the bias gradient as direct's; two threads give one thread's floats`, () => {
      const inputs = draw(c);
      const reference = expected(c, inputs);
      const direct = run(c, inputs, directConvolution, false);
      for (const pass of PASSES) {
        if (reference[pass] === null) continue;
        const error = maxRelativeError(direct[pass]!, reference[pass]);
        assert.ok(error < TOLERANCE.direct, `direct ${pass}: ${error.toExponential(2)} from float64`);
      }
      for (const m of [2, 4] as const) {
        const one = run(c, inputs, winograd(uniform(m)), false);
        const two = run(c, inputs, winograd(uniform(m)), true);
        for (const pass of PASSES) {
          if (reference[pass] === null) {
            assert.equal(one[pass], null);
            continue;
          }
          const error = maxRelativeError(one[pass]!, reference[pass]);
          assert.ok(error < TOLERANCE[m], `F(${m}x${m}) ${pass}: ${error.toExponential(2)} from float64, tolerance ${TOLERANCE[m]}`);
          const apart = maxRelativeError(one[pass]!, direct[pass]!);
          assert.ok(apart < TOLERANCE[m] + TOLERANCE.direct, `F(${m}x${m}) ${pass}: ${apart.toExponential(2)} from the direct algorithm`);
          assert.deepEqual(two[pass], one[pass], `F(${m}x${m}) ${pass}: two threads differ from one`);
        }
        assert.deepEqual(one.biasGradient, direct.biasGradient, 'the bias gradient is the direct algorithm’s (the same column sums)');
      }
    });
  }

  test('passes mixed: a pass without a tile runs the direct algorithm, to the bit', () => {
    const c = CASES[3];
    const inputs = draw(c);
    const direct = run(c, inputs, directConvolution, false);
    const mixed = run(c, inputs, winograd({ forward: null, inputGradient: 4, filterGradient: null }), false);
    assert.deepEqual(mixed.forward, direct.forward);
    assert.deepEqual(mixed.filterGradient, direct.filterGradient);
    assert.notDeepEqual(mixed.inputGradient, direct.inputGradient, 'the input gradient ran F(4x4)');
    const error = maxRelativeError(mixed.inputGradient!, expected(c, inputs).inputGradient!);
    assert.ok(error < TOLERANCE[4], `F(4x4) input gradient: ${error.toExponential(2)}`);
  });

  test("selectedConvolution takes kernels/convolution.ts's table; PMOE_CONV=direct gives the direct algorithm's floats", () => {
    const [stem, block] = [CASES[0], CASES[3]];
    delete process.env.PMOE_CONV;
    assert.deepEqual(selectedTiles(geometryOf(block, 8), true), { forward: 2, inputGradient: 4, filterGradient: 4 });
    assert.deepEqual(selectedTiles(geometryOf(stem, 8), false), { forward: null, inputGradient: null, filterGradient: 4 });
    const strided: ConvGeometry = { ...geometryOf(block, 8), strideHeight: 2, strideWidth: 2, outHeight: 8, outWidth: 8 };
    assert.deepEqual(selectedTiles(strided, true), uniform(null));
    const inputs = draw(block);
    const direct = run(block, inputs, directConvolution, false);
    const selected = run(block, inputs, selectedConvolution, false);
    assert.notDeepEqual(selected.forward, direct.forward, 'auto runs Winograd on a 3x3 stride-1 layer');
    process.env.PMOE_CONV = 'direct';
    try {
      assert.deepEqual(selectedTiles(geometryOf(block, 8), true), uniform(null));
      const memory = new StepMemory(new SimdArena(), 2);
      const g = geometryOf(block, 2);
      const x = memory.addMap('x', [g.inHeight, g.inWidth, g.inChannels]);
      const y = memory.addMap('y', [g.outHeight, g.outWidth, g.outChannels]);
      assert.ok(selectedConvolution(memory, g, x, y, true) instanceof DirectConvolution);
      assert.deepEqual(run(block, inputs, selectedConvolution, false), direct);
    } finally {
      delete process.env.PMOE_CONV;
    }
  });
});
