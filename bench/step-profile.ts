/**
 * `node dist/bench/step-profile.js`: where one WRN-pMoE training step's time goes, at the paper's
 * width by default (w = 10, batch 128, 32x32x1 inputs as wrn-mnist). Per step, the time until
 * tfjs has issued all its work (on webgpu the GPU still runs) and the wait for the loss; then
 * tf.time's kernel time of one step and tf.profile's kernels by name; optionally a V8 CPU profile
 * of the timed steps (open it in Chrome DevTools). docs/gpu.md's step figures were measured so.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Command, Option } from 'commander';
import { initEngine, tf } from '../src/engine/backend.js';
import { releaseWebgpu } from '../src/engine/webgpu/dawn.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../src/models/wide-resnet.js';
import { classificationLoss } from '../src/training/loss.js';
import { positiveInteger } from './cli-args.js';

const opts = new Command()
  .name('step-profile')
  .description("where a WRN-pMoE training step's time goes")
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(['webgpu', 'wasm', 'cpu']).default('webgpu'))
  .option('--widening <w>', 'widening factor', positiveInteger, 10)
  .option('--batch <n>', 'batch size', positiveInteger, 128)
  .option('--steps <n>', 'timed steps (after two untimed ones)', positiveInteger, 4)
  .option('--cpu-profile <path>', 'write a V8 CPU profile of the timed steps here')
  .parse()
  .opts<{ backend: 'webgpu' | 'wasm' | 'cpu'; widening: number; batch: number; steps: number; cpuProfile?: string }>();

await initEngine(opts.backend);
const classes = 4;
const model = buildWrnPmoe({ ...WRN_PMOE_CIFAR, wideningFactor: opts.widening, classes, inputSize: 32, channels: 1, seed: 0 });
const x = tf.randomNormal([opts.batch, 32, 32, 1], 0, 1, 'float32', 1);
const labels = tf.tensor1d(
  Array.from({ length: opts.batch }, (_, i) => i % classes),
  'int32',
);
const optimizer = tf.train.sgd(0.01);

function step(): { issueMs: number; waitMs: number } {
  const started = performance.now();
  const loss = optimizer.minimize(() => classificationLoss(model.apply(x, { training: true }) as tf.Tensor2D, labels), true)!;
  const issued = performance.now();
  loss.dataSync();
  const read = performance.now();
  loss.dispose();
  return { issueMs: issued - started, waitMs: read - issued };
}

const round = (ms: number) => Math.round(ms * 10) / 10;
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
const result = {
  backend: tf.getBackend(),
  wideningFactor: opts.widening,
  batch: opts.batch,
  steps: steps.map(({ issueMs, waitMs }) => ({ issueMs: round(issueMs), waitMs: round(waitMs) })),
  time: { wallMs: round(timed.wallMs), kernelMs: typeof timed.kernelMs === 'number' ? round(timed.kernelMs) : null },
  kernelsPerStep: profile.kernels.length,
  kernels,
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
await releaseWebgpu();
