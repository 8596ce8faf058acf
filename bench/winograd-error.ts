/**
 * `node dist/bench/winograd-error.js [--seeds n] [--json]`: the numerical error of each
 * convolution algorithm (direct per-tap products, Winograd F(2x2, 3x3), F(4x4, 3x3)) against a
 * float64 loop, for each pass (forward, input gradient, filter gradient), on the Wide-ResNets'
 * 3x3 stride-1 layers and a few other shapes: max |kernel - float64| / max |float64| over fresh
 * Gaussian inputs (x, dy ~ N(0, 1), filter ~ N(0, 1 / (9 ci))), the worst of the seeds. The
 * `training-like` rows draw what a training step has instead: x after a ReLU (half zeros, mean
 * 0.4) and dy with each channel's mean over the batch removed (as after batch norm), whose
 * filter gradients are small sums of large cancelling terms. For the forward pass it also prints
 * the error over each output channel's spread (conv-reference.ts's maxChannelError), which is what
 * the batch norm after a convolution sees.
 * docs/kernels.md's error table and test/kernels/winograd-conv.test.ts's tolerances come from it.
 */
import { Command } from 'commander';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../src/engine/backend.js';
import { convFilterGradient, convForward, convGeometry, convInputGradient } from '../src/kernels/conv-gemm.js';
import { winogradFilterGradient, winogradForward, winogradInputGradient } from '../src/kernels/winograd-conv.js';
import { createRng } from '../src/util/random.js';
import { positiveInteger } from './cli-args.js';
import { maxChannelError, maxRelativeError, referenceFilterGradient, referenceForward, referenceInputGradient } from './conv-reference.js';

const opts = new Command()
  .name('winograd-error')
  .description('numerical error of the convolution algorithms against float64')
  .option('--seeds <n>', 'inputs drawn per shape', positiveInteger, 3)
  .option('--json', 'print JSON only')
  .parse()
  .opts<{ seeds: number; json?: boolean }>();

/** [batch, height, width, in channels, out channels] of 3x3 'same' stride-1 convolutions. */
export const ERROR_SHAPES: readonly { name: string; shape: readonly [number, number, number, number, number]; trainingLike?: boolean }[] = [
  { name: 'WRN w=1 stem (RGB)', shape: [32, 32, 32, 3, 16] },
  { name: 'WRN w=1 block1', shape: [32, 32, 32, 16, 16] },
  { name: 'WRN w=1 block1, training-like', shape: [32, 32, 32, 16, 16], trainingLike: true },
  { name: 'WRN w=1 block2', shape: [32, 16, 16, 32, 32] },
  { name: 'WRN w=1 block3', shape: [32, 8, 8, 64, 64] },
  { name: 'WRN w=10 block2', shape: [2, 16, 16, 320, 320] },
  { name: 'odd map, 5 -> 12 channels', shape: [3, 13, 11, 5, 12] },
];

const ALGORITHMS = ['direct', 'winograd2', 'winograd4'] as const;

await initEngine('wasm');
const backend = tf.backend() as BackendWasm;

/** A kernel's result as values (freed), or null where it declined the shape (direct: 5 input channels, or an RGB forward). */
function read(info: tf.TensorInfo | null): Float32Array | null {
  if (info === null) return null;
  const values = (backend.typedArrayFromHeap(info) as Float32Array).slice();
  backend.disposeData(info.dataId);
  return values;
}

const rows: { shape: string; pass: string; algorithm: string; error: number; channelError?: number }[] = [];
for (const { name, shape, trainingLike } of ERROR_SHAPES) {
  const [batch, h, w, ci, co] = shape;
  const info = tf.backend_util.computeConv2DInfo([batch, h, w, ci], [3, 3, ci, co], 1, 1, 'same');
  const geometry = convGeometry(info)!;
  const worst = new Map<string, number>();
  for (let seed = 0; seed < opts.seeds; seed++) {
    const rng = createRng(`winograd-error ${name} ${seed}`);
    const draw = (n: number, std: number) => Float32Array.from({ length: n }, () => rng.normal() * std);
    const xVals = draw(batch * h * w * ci, 1);
    const fVals = draw(9 * ci * co, 1 / Math.sqrt(9 * ci));
    const dyVals = draw(batch * h * w * co, 1);
    if (trainingLike) {
      for (let i = 0; i < xVals.length; i++) xVals[i] = Math.max(0, xVals[i]);
      const means = new Float64Array(co);
      for (let i = 0; i < dyVals.length; i++) means[i % co] += dyVals[i] / (dyVals.length / co);
      for (let i = 0; i < dyVals.length; i++) dyVals[i] -= means[i % co];
    }
    const expected = {
      forward: referenceForward(geometry, xVals, fVals),
      inputGradient: referenceInputGradient(geometry, dyVals, fVals),
      filterGradient: referenceFilterGradient(geometry, xVals, dyVals),
    };
    const [x, f, dy] = [tf.tensor4d(xVals, [batch, h, w, ci]), tf.tensor4d(fVals, [3, 3, ci, co]), tf.tensor4d(dyVals, [batch, h, w, co])];
    for (const algorithm of ALGORITHMS) {
      const m = algorithm === 'winograd2' ? 2 : 4;
      const actual = {
        forward: read(
          algorithm === 'direct'
            ? ci % 4 === 0
              ? convForward(backend, x, f, undefined, geometry)
              : null
            : winogradForward(backend, x, f, undefined, geometry, m),
        ),
        inputGradient: read(algorithm === 'direct' ? convInputGradient(backend, dy, f, geometry) : winogradInputGradient(backend, dy, f, geometry, m)),
        filterGradient: read(algorithm === 'direct' ? convFilterGradient(backend, x, dy, geometry) : winogradFilterGradient(backend, x, dy, geometry, m)),
      };
      for (const pass of ['forward', 'inputGradient', 'filterGradient'] as const) {
        const values = actual[pass];
        if (values === null) continue;
        const key = `${pass} ${algorithm}`;
        worst.set(key, Math.max(worst.get(key) ?? 0, maxRelativeError(values, expected[pass])));
        if (pass === 'forward') worst.set(`${key} spread`, Math.max(worst.get(`${key} spread`) ?? 0, maxChannelError(values, expected.forward, co)));
      }
    }
    tf.dispose([x, f, dy]);
  }
  for (const [key, error] of worst) {
    const [pass, algorithm, spread] = key.split(' ');
    if (spread === undefined) rows.push({ shape: `${name} [${shape.join(', ')}]`, pass, algorithm, error, channelError: worst.get(`${key} spread`) });
  }
}

if (opts.json) {
  process.stdout.write(`${JSON.stringify({ seeds: opts.seeds, rows })}\n`);
} else {
  const shapes = [...new Set(rows.map((row) => row.shape))];
  const lines = [
    `max |kernel - float64| / max |float64|, worst of ${opts.seeds} seed(s); forward: (the same over each channel's spread)`,
    '| shape [B, H, W, ci, co] | pass | direct | F(2x2,3x3) | F(4x4,3x3) |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const shape of shapes) {
    for (const pass of ['forward', 'inputGradient', 'filterGradient']) {
      const cell = (algorithm: string) => {
        const row = rows.find((r) => r.shape === shape && r.pass === pass && r.algorithm === algorithm);
        if (!row) return '-';
        return row.channelError === undefined ? row.error.toExponential(1) : `${row.error.toExponential(1)} (${row.channelError.toExponential(1)})`;
      };
      lines.push(`| ${shape} | ${pass} | ${ALGORITHMS.map(cell).join(' | ')} |`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
