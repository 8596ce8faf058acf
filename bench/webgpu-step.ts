/// <reference types="@webgpu/types" />
/**
 * pmoe's WebGPU training step (src/training/webgpu/) on one model and shape, timed: steps submitted
 * back to back after warm-up steps, the GPU waited for at the end, and each step's device work
 * counted (gpu-counters.ts). The figures step-profile and gpu-bench report.
 */
import { modelFlops } from '../src/analysis/flops.js';
import { buildWrnModel, lastFeatureMapSize, resolveWrnModel, WRN_PMOE_CELEBA, WRN_PMOE_CIFAR, type WrnModelSpec } from '../src/models/wide-resnet.js';
import { describeWrnModel } from '../src/models/wrn-layers.js';
import { tfjsWebgpuDevice } from '../src/training/webgpu/train-on-webgpu.js';
import { WebgpuImageTrainer } from '../src/training/webgpu/webgpu-trainer.js';
import type { Precision } from '../src/training/webgpu/precision.js';
import { countDeviceWork, type DeviceWork } from './gpu-counters.js';

/** The paper's two WRN-pMoE settings [C], and the WRN at the same input. */
export const SETTINGS = {
  cifar: { ...WRN_PMOE_CIFAR, classes: 10 },
  celeba: { ...WRN_PMOE_CELEBA, classes: 2 },
} as const;
export type SettingName = keyof typeof SETTINGS;

export interface StepCase {
  readonly architecture: 'wrn' | 'wrn-pmoe';
  readonly setting: SettingName;
  readonly wideningFactor: number;
  readonly batch: number;
  readonly channels: number;
  /** Overrides the setting's input size (tiny runs). */
  readonly inputSize?: number;
  /** Default fp32. */
  readonly precision?: Precision;
}

export interface StepTiming {
  readonly case: StepCase & { readonly inputSize: number };
  /** Each timed step alone: its time to encode and submit, then to finish on the GPU, and its device work. */
  readonly steps: readonly ({ issueMs: number; waitMs: number } & DeviceWork)[];
  /** Steps submitted back to back: images per second of training. */
  readonly imagesPerSecond: number;
  readonly msPerStep: number;
  readonly dispatchesPerStep: number;
  readonly pipelines: number;
  /** Training FLOPs per step (analysis/flops.ts: the PatchMoE on its gathered patches) over the step's time. */
  readonly tflops: number;
  readonly buildMs: number;
  /** What ran: mixed falls back to fp32 where the adapter lacks it. */
  readonly precision: Precision;
  readonly kernels: string;
}

/** The model of a case; a smaller input than the setting's caps l at the n patches its map has. */
export function modelSpec(c: StepCase): { spec: WrnModelSpec; inputSize: number; classes: number } {
  const { classes, inputSize: settingSize, ...pmoe } = SETTINGS[c.setting];
  const inputSize = c.inputSize ?? settingSize;
  const [mapHeight, mapWidth] = lastFeatureMapSize(inputSize);
  const patches = Math.floor(mapHeight / pmoe.patchSize) * Math.floor(mapWidth / pmoe.patchSize);
  const spec: WrnModelSpec =
    c.architecture === 'wrn'
      ? { architecture: 'wrn', wideningFactor: c.wideningFactor }
      : { architecture: 'wrn-pmoe', wideningFactor: c.wideningFactor, ...pmoe, patchesPerExpert: Math.min(pmoe.patchesPerExpert, patches) };
  return { spec, inputSize, classes };
}

const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Times the step on the active webgpu backend: `steps` steps alone, then `steps` back to back. */
export async function timeWebgpuStep(c: StepCase, steps: number, warmup = 2): Promise<StepTiming> {
  const device = tfjsWebgpuDevice();
  if (!device) throw new Error('webgpu-step: the webgpu backend is not active');
  const { spec, inputSize, classes } = modelSpec(c);
  const config = resolveWrnModel(spec, { classes, inputSize, channels: c.channels, seed: 0 });
  const model = buildWrnModel(config);
  const flops = modelFlops(model, c.batch).trainStep;
  const weights = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
  model.dispose();
  const built = performance.now();
  const trainer = new WebgpuImageTrainer(device, describeWrnModel(config), { learningRate: 0.01, precision: c.precision });
  try {
    trainer.writeWeights((name) => weights.get(name)!);
    await trainer.program(c.batch);
    const buildMs = performance.now() - built;
    const images = Float32Array.from({ length: c.batch * inputSize * inputSize * c.channels }, (_, i) => Math.sin(i));
    const labels = Int32Array.from({ length: c.batch }, (_, i) => i % classes);
    for (let i = 0; i < warmup; i++) await trainer.step(images, labels);
    await device.queue.onSubmittedWorkDone();
    const alone: StepTiming['steps'][number][] = [];
    for (let i = 0; i < steps; i++) {
      const work = countDeviceWork();
      const started = performance.now();
      await trainer.step(images, labels);
      const issued = performance.now();
      const counted = work();
      await device.queue.onSubmittedWorkDone();
      alone.push({ issueMs: round(issued - started), waitMs: round(performance.now() - issued), ...counted });
    }
    const started = performance.now();
    for (let i = 0; i < steps; i++) await trainer.step(images, labels);
    await device.queue.onSubmittedWorkDone();
    const msPerStep = (performance.now() - started) / steps;
    await trainer.readMetrics();
    return {
      case: { ...c, inputSize },
      steps: alone,
      imagesPerSecond: round((1000 * c.batch) / msPerStep),
      msPerStep: round(msPerStep, 2),
      dispatchesPerStep: await trainer.dispatchesPerStep(c.batch),
      pipelines: trainer.pipelines,
      tflops: round(flops / msPerStep / 1e9, 3),
      buildMs: Math.round(buildMs),
      precision: trainer.kernels.precision,
      kernels: trainer.kernels.kernels,
    };
  } finally {
    await trainer.destroy();
  }
}
