/**
 * `node dist/bench/step-profile.js`: where one WRN-pMoE training step's time goes, at the paper's
 * width by default (w = 10, batch 128, 32x32x1 inputs as wrn-mnist). Per step, the time until
 * tfjs has issued all its work (on webgpu the GPU still runs) and the wait for the loss; then
 * tf.time's kernel time of one step and tf.profile's kernels by name; optionally a V8 CPU profile
 * of the timed steps (open it in Chrome DevTools). docs/gpu.md's step figures were measured so.
 * `--convs` also times each convolution of the model alone, on random inputs of its shapes
 * (forward, input gradient, filter gradient), for a floor under the step's time: what the
 * products cost with nothing else around them (docs/performance.md uses it for case d).
 *
 * On webgpu, `--step pmoe` (the default there) profiles pmoe's own WebGPU step instead
 * (bench/webgpu-step.ts): per step the time to encode and submit it, the wait for the GPU, and
 * the queue submissions, compute dispatches and buffer reads it made (counted by wrapping
 * dawn.node's methods); `--step tfjs` profiles tfjs's layers and autodiff, with the same counts.
 * `--model`, `--setting` (cifar: 32x32, k 4, l 16, 1x1 experts; celeba: 64x64, k 8, l 2, 3x3 experts)
 * and `--input-size` choose the model for the pmoe step.
 */
import { writeFileSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Command, Option } from 'commander';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../src/engine/backend.js';
import { releaseWebgpu } from '../src/engine/webgpu/dawn.js';
import { modelFlops } from '../src/analysis/flops.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../src/models/wide-resnet.js';
import { classificationLoss } from '../src/training/loss.js';
import { positiveInteger } from './cli-args.js';
import { gflops, summarise } from './stats.js';
import { countDeviceWork, type DeviceWork } from './gpu-counters.js';
import { timeWebgpuStep, type SettingName } from './webgpu-step.js';

const opts = new Command()
  .name('step-profile')
  .description("where a WRN-pMoE training step's time goes")
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(['webgpu', 'wasm', 'cpu']).default('webgpu'))
  .option('--widening <w>', 'widening factor', positiveInteger, 10)
  .option('--batch <n>', 'batch size', positiveInteger, 128)
  .option('--channels <n>', 'input channels (bench case d: 3)', positiveInteger, 1)
  .option('--steps <n>', 'timed steps (after two untimed ones)', positiveInteger, 4)
  .option('--cpu-profile <path>', 'write a V8 CPU profile of the timed steps here')
  .option('--convs', 'also time each convolution alone (median of --repeats)')
  .option('--repeats <n>', 'timings per convolution pass with --convs', positiveInteger, 30)
  .addOption(new Option('--step <which>', "pmoe's own WebGPU step or tfjs's autodiff (default: pmoe on webgpu)").choices(['pmoe', 'tfjs']))
  .addOption(new Option('--model <name>', 'model of the pmoe step').choices(['wrn', 'wrn-pmoe']).default('wrn-pmoe'))
  .addOption(new Option('--setting <name>', 'WRN-pMoE setting of the pmoe step').choices(['cifar', 'celeba']).default('cifar'))
  .option('--input-size <n>', "input height and width of the pmoe step (default the setting's)", positiveInteger)
  .parse()
  .opts<{
    backend: 'webgpu' | 'wasm' | 'cpu';
    widening: number;
    batch: number;
    channels: number;
    steps: number;
    cpuProfile?: string;
    convs?: boolean;
    repeats: number;
    step?: 'pmoe' | 'tfjs';
    model: 'wrn' | 'wrn-pmoe';
    setting: SettingName;
    inputSize?: number;
  }>();

await initEngine(opts.backend);
if ((opts.step ?? (opts.backend === 'webgpu' ? 'pmoe' : 'tfjs')) === 'pmoe') {
  if (opts.backend !== 'webgpu') throw new Error(`step-profile: --step pmoe runs on webgpu (got --backend ${opts.backend})`);
  const timing = await timeWebgpuStep(
    { architecture: opts.model, setting: opts.setting, wideningFactor: opts.widening, batch: opts.batch, channels: opts.channels, inputSize: opts.inputSize },
    opts.steps,
  );
  await releaseWebgpu();
  writeSync(1, `${JSON.stringify({ backend: 'webgpu', step: 'pmoe', ...timing }, null, 2)}\n`); // synchronous: exit follows
  process.exit(0);
}
const classes = 4;
const model = buildWrnPmoe({ ...WRN_PMOE_CIFAR, wideningFactor: opts.widening, classes, inputSize: 32, channels: opts.channels, seed: 0 });
const x = tf.randomNormal([opts.batch, 32, 32, opts.channels], 0, 1, 'float32', 1);
const labels = tf.tensor1d(
  Array.from({ length: opts.batch }, (_, i) => i % classes),
  'int32',
);
const optimizer = tf.train.sgd(0.01);

function step(): { issueMs: number; waitMs: number; device?: DeviceWork } {
  const work = tf.getBackend() === 'webgpu' ? countDeviceWork() : undefined;
  const started = performance.now();
  const loss = optimizer.minimize(() => classificationLoss(model.apply(x, { training: true }) as tf.Tensor2D, labels), true)!;
  const issued = performance.now();
  loss.dataSync();
  const read = performance.now();
  loss.dispose();
  return { issueMs: issued - started, waitMs: read - issued, ...(work ? { device: work() } : {}) };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Median wall time of `repeats` runs of `pass` (after two untimed ones), ms. wasm and cpu kernels
 * have run when runKernel returns; webgpu's output is read to wait for the GPU. (Reading on wasm
 * would time the read too: a 1 MB dataSync took 3-4 ms here.)
 */
async function medianMs(pass: () => tf.Tensor, repeats: number): Promise<number> {
  const times: number[] = [];
  for (let i = -2; i < repeats; i++) {
    const started = performance.now();
    const out = pass();
    if (tf.getBackend() === 'webgpu') await out.data();
    if (i >= 0) times.push(performance.now() - started);
    out.dispose();
  }
  return summarise(times).medianMs;
}

interface ConvTiming {
  readonly name: string;
  readonly formula: string;
  readonly forwardMs: number;
  /** null for a layer reading the images: the step does not compute that gradient. */
  readonly inputGradientMs: number | null;
  readonly filterGradientMs: number;
  /** The passes' FLOPs (forward, and 2x forward for the gradients) over their time; null below the clock's resolution. */
  readonly gflops: number | null;
}

/** Each Conv2D layer of the model timed alone: the kernels a training step runs for it, on random inputs of its shapes. */
async function timeConvolutions(repeats: number): Promise<ConvTiming[]> {
  const counts = new Map(modelFlops(model, opts.batch).perLayer.map((layer) => [layer.name, layer]));
  const timings: ConvTiming[] = [];
  for (const layer of model.layers.filter((l) => l.getClassName() === 'Conv2D')) {
    const [kernel, bias] = layer.getWeights();
    const config = layer.getConfig() as { strides: [number, number]; padding: 'same' | 'valid' };
    const inputShape = [opts.batch, ...(layer.input as tfl.SymbolicTensor).shape.slice(1)] as [number, number, number, number];
    const outputShape = [opts.batch, ...(layer.outputShape as number[]).slice(1)] as [number, number, number, number];
    const readsImages = layer.inboundNodes[0].inboundLayers.every((inbound) => inbound.getClassName() === 'InputLayer');
    const attrs = { strides: config.strides, pad: config.padding, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const [input, dy] = [tf.randomNormal(inputShape, 0, 1, 'float32', 2), tf.randomNormal(outputShape, 0, 1, 'float32', 3)];
    const run = (name: string, inputs: tf.NamedTensorMap, extra: object) =>
      tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const forwardMs = await medianMs(() => run('FusedConv2D', { x: input, filter: kernel, bias }, { dilations: [1, 1], activation: 'linear' }), repeats);
    const inputGradientMs = readsImages ? null : await medianMs(() => run('Conv2DBackpropInput', { dy, filter: kernel }, { inputShape }), repeats);
    const filterGradientMs = await medianMs(() => run('Conv2DBackpropFilter', { x: input, dy }, { filterShape: kernel.shape }), repeats);
    tf.dispose([input, dy]);
    const count = counts.get(layer.name)!;
    const [flops, ms] = [count.forward * (readsImages ? 2 : 3), forwardMs + (inputGradientMs ?? 0) + filterGradientMs];
    timings.push({
      name: layer.name,
      formula: count.formula,
      forwardMs: round(forwardMs),
      inputGradientMs: inputGradientMs === null ? null : round(inputGradientMs),
      filterGradientMs: round(filterGradientMs),
      gflops: ms > 0 ? round(gflops(flops, ms)) : null,
    });
  }
  return timings;
}

step();
step();
const session = opts.cpuProfile ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const steps = Array.from({ length: opts.steps }, () => step());
if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(opts.cpuProfile!, JSON.stringify(profile));
  session.disconnect();
}
const timed = await tf.time(() => void step());
const profile = await tf.profile(() => void step());
const byKernel = new Map<string, { calls: number; ms: number }>();
for (const kernel of profile.kernels) {
  const entry = byKernel.get(kernel.name) ?? { calls: 0, ms: 0 };
  entry.calls++;
  entry.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : Number.NaN;
  byKernel.set(kernel.name, entry);
}
const kernels = [...byKernel]
  .map(([name, { calls, ms }]) => ({ name, calls, ms: round(ms) }))
  .sort((a, b) => b.ms - a.ms)
  .slice(0, 15);
const convolutions = opts.convs ? await timeConvolutions(opts.repeats) : undefined;
const convolutionsMs = (convolutions ?? []).reduce((sum, l) => sum + l.forwardMs + (l.inputGradientMs ?? 0) + l.filterGradientMs, 0);
const result = {
  backend: tf.getBackend(),
  wideningFactor: opts.widening,
  batch: opts.batch,
  step: 'tfjs',
  steps: steps.map(({ issueMs, waitMs, device }) => ({ issueMs: round(issueMs), waitMs: round(waitMs), ...device })),
  time: { wallMs: round(timed.wallMs), kernelMs: typeof timed.kernelMs === 'number' ? round(timed.kernelMs) : null },
  kernelsPerStep: profile.kernels.length,
  kernels,
  ...(convolutions ? { convolutionsAlone: { layers: convolutions, totalMs: round(convolutionsMs) } } : {}),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
await releaseWebgpu();
