/**
 * `node dist/bench/conv-algorithms.js [--repeats n] [--json]`: each pass (forward, input gradient,
 * filter gradient) of the Wide-ResNets' 3x3 stride-1 convolutions by each algorithm (direct
 * per-tap products, Winograd F(2x2, 3x3), F(4x4, 3x3)), timed alone on random inputs of the
 * layer's shapes (the kernels of src/kernels/, called directly; data in cache). The algorithms
 * alternate call by call, so that the machine's drift reaches all of them alike; medians of
 * --repeats calls (a direct forward pass of fewer than 4 input channels is tfjs's own XNNPACK
 * convolution, which pmoe leaves those to). Run it with PMOE_THREADS=1 for one thread. docs/kernels.md's selection table
 * (convolution.ts) comes from it. GFLOP/s count the direct algorithm's FLOPs (2 B H W 9 ci co),
 * so Winograd's can exceed the machine's multiply-add peak; `multiplies` is the share of direct
 * convolution's multiply-adds that the algorithm's products do (t^2 / (9 m^2) of them, padding
 * tiles included).
 */
import { Command } from 'commander';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine, tf } from '../src/engine/backend.js';
import { convFilterGradient, convForward, convGeometry, convInputGradient, type ConvGeometry } from '../src/kernels/conv-gemm.js';
import { gemmThreads } from '../src/kernels/gemm-threads.js';
import { winogradFilterGradient, winogradForward, winogradInputGradient, type WinogradTile } from '../src/kernels/winograd-conv.js';
import { positiveInteger } from './cli-args.js';
import { summarise } from './stats.js';
import { winogradMultiplyShare } from './flops.js';

const opts = new Command()
  .name('conv-algorithms')
  .description('direct against Winograd convolution, pass by pass, on the Wide-ResNets layers')
  .option('--repeats <n>', 'timed calls per algorithm and pass', positiveInteger, 20)
  .option('--wide', "also the paper's w = 10 layers (batch 8)")
  .option('--cpu-time', "time the process's CPU (user + system) instead of the wall clock: one thread's work, whatever else runs")
  .option('--json', 'print JSON only')
  .parse()
  .opts<{ repeats: number; wide?: boolean; cpuTime?: boolean; json?: boolean }>();

/** Milliseconds since `from` (a mark of now()): wall time, or the process's CPU time with --cpu-time. */
const now = opts.cpuTime
  ? () => {
      const used = process.cpuUsage();
      return (used.user + used.system) / 1000;
    }
  : () => performance.now();

/** [batch, height, width, in channels, out channels] of 3x3 'same' stride-1 layers. */
const LAYERS: { name: string; shape: [number, number, number, number, number] }[] = [
  { name: 'w=1 stem, RGB', shape: [32, 32, 32, 3, 16] },
  { name: 'w=1 stem, grey', shape: [32, 32, 32, 1, 16] },
  { name: 'w=1 block1', shape: [32, 32, 32, 16, 16] },
  { name: 'w=1 block2', shape: [32, 16, 16, 32, 32] },
  { name: 'w=1 block3 (WRN)', shape: [32, 8, 8, 64, 64] },
  { name: 'w=1 block1, evaluation', shape: [256, 32, 32, 16, 16] },
  { name: 'w=1 block2, evaluation', shape: [256, 16, 16, 32, 32] },
  ...(opts.wide
    ? ([
        { name: 'w=10 block1', shape: [8, 32, 32, 160, 160] },
        { name: 'w=10 block2', shape: [8, 16, 16, 320, 320] },
        { name: 'w=10 block3', shape: [8, 8, 8, 640, 640] },
      ] as { name: string; shape: [number, number, number, number, number] }[])
    : []),
];

const ALGORITHMS = ['direct', 'winograd2', 'winograd4'] as const;
type Algorithm = (typeof ALGORITHMS)[number];
const PASSES = ['forward', 'inputGradient', 'filterGradient'] as const;
type Pass = (typeof PASSES)[number];

await initEngine('wasm');
const backend = tf.backend() as BackendWasm;
const threads = gemmThreads() === null ? 1 : 2;

/** One pass by one algorithm; returns what to free. Direct forward convolutions of fewer than 4 channels run tfjs's (XNNPACK), as pmoe does. */
function run(pass: Pass, algorithm: Algorithm, g: ConvGeometry, x: tf.Tensor, f: tf.Tensor, dy: tf.Tensor): () => void {
  const m = (algorithm === 'winograd2' ? 2 : 4) as WinogradTile;
  let out: tf.TensorInfo | null;
  if (algorithm === 'direct' && pass === 'forward' && g.inChannels % 4 !== 0) {
    process.env.PMOE_CONV = 'direct';
    const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same');
    delete process.env.PMOE_CONV;
    return () => y.dispose();
  }
  if (algorithm === 'direct') {
    if (pass === 'forward') out = convForward(backend, x, f, undefined, g);
    else out = pass === 'inputGradient' ? convInputGradient(backend, dy, f, g) : convFilterGradient(backend, x, dy, g);
  } else if (pass === 'forward') {
    out = winogradForward(backend, x, f, undefined, g, m);
  } else {
    out = pass === 'inputGradient' ? winogradInputGradient(backend, dy, f, g, m) : winogradFilterGradient(backend, x, dy, g, m);
  }
  if (out === null) throw new Error(`${algorithm} declined the ${pass} of ${JSON.stringify(g)}`);
  return () => backend.disposeData(out.dataId);
}

const results: { layer: string; shape: number[]; pass: Pass; ms: Record<Algorithm, number | null>; fastest: Algorithm }[] = [];
for (const { name, shape } of LAYERS) {
  const [batch, h, w, ci, co] = shape;
  const g = convGeometry(tf.backend_util.computeConv2DInfo([batch, h, w, ci], [3, 3, ci, co], 1, 1, 'same'))!;
  const x = tf.randomNormal([batch, h, w, ci]);
  const f = tf.randomNormal([3, 3, ci, co], 0, 1 / Math.sqrt(9 * ci));
  const dy = tf.randomNormal([batch, h, w, co]);
  for (const pass of PASSES) {
    const times = new Map<Algorithm, number[]>(ALGORITHMS.map((a) => [a, []]));
    for (let i = -2; i < opts.repeats; i++) {
      for (const algorithm of ALGORITHMS) {
        const started = now();
        const free = run(pass, algorithm, g, x, f, dy);
        const elapsed = now() - started;
        free();
        if (i >= 0) times.get(algorithm)!.push(elapsed);
      }
    }
    const ms = Object.fromEntries(ALGORITHMS.map((a) => [a, times.get(a)!.length ? summarise(times.get(a)!).medianMs : null])) as Record<
      Algorithm,
      number | null
    >;
    const fastest = ALGORITHMS.filter((a) => ms[a] !== null).reduce((best, a) => (ms[a]! < ms[best]! ? a : best));
    results.push({ layer: name, shape, pass, ms, fastest });
  }
  tf.dispose([x, f, dy]);
}

if (opts.json) {
  process.stdout.write(`${JSON.stringify({ threads, repeats: opts.repeats, clock: opts.cpuTime ? 'cpu' : 'wall', results })}\n`);
} else {
  const lines = [
    `${threads} thread(s); medians of ${opts.repeats} calls, ms of ${opts.cpuTime ? 'CPU' : 'wall'} time (GFLOP/s counted as direct convolution's FLOPs; xN: the share of direct's multiply-adds the products do)`,
    '| layer [B, H, W, ci, co] | pass | direct | F(2x2,3x3) | F(4x4,3x3) | fastest |',
    '| --- | --- | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    const [batch, h, w, ci, co] = r.shape;
    const flops = 2 * batch * h * w * 9 * ci * co;
    const cell = (a: Algorithm) => {
      const ms = r.ms[a];
      if (ms === null) return '-';
      const share = a === 'direct' ? '' : `, x${winogradMultiplyShare(a === 'winograd2' ? 2 : 4, h, w).toFixed(2)}`;
      return `${ms.toFixed(2)} (${(flops / ms / 1e6).toFixed(0)}${share})`;
    };
    lines.push(`| ${r.layer} [${r.shape.join(', ')}] | ${r.pass} | ${ALGORITHMS.map(cell).join(' | ')} | ${r.fastest} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
