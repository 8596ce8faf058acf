/// <reference types="@webgpu/types" />
/**
 * The image training loop of train-image-model.ts on pmoe's WebGPU step: the same epochs, shuffles
 * and batches, the model's weights copied onto the GPU at the start, trained there, and copied back
 * into the tfjs model after every epoch for its evaluation (tfjs's inference on the same device).
 * Per step nothing is read back: the epoch's loss and accuracy come from one read of the metrics the
 * step accumulates (or every `metricsEverySteps` steps), which is also when a diverged loss shows.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSplit } from '../../data/image-split.js';
import type { ImageModelLayers } from '../../models/wrn-layers.js';
import { checkFinite } from '../sgd.js';
import { PRECISIONS, type Precision } from './precision.js';
import { webgpuStepUnsupported } from './step-program.js';
import { WebgpuImageTrainer, type StepCounters } from './webgpu-trainer.js';

/** What ran, for the run record. */
export interface WebgpuStepRecord {
  /** What ran (precision.ts): fp32, or mixed (the convolutions' products on f16 subgroup matrices). */
  readonly precision: Precision;
  /** What was asked for (--precision, PMOE_PRECISION); mixed runs fp32 where the adapter lacks it. */
  readonly requestedPrecision: Precision;
  /** Which kernels: pmoe's WGSL kernels (src/kernels/wgsl/), their products and blocking. */
  readonly kernels: string;
  /** Why mixed was asked for and fp32 ran. */
  readonly fallback?: string;
  readonly dispatchesPerStep: number;
  readonly pipelines: number;
  /** Over the whole run: one submission per step, reads once per epoch (metrics, weights). */
  readonly counters: StepCounters;
}

export interface WebgpuLoopSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Read the metrics (and check the loss) every this many steps as well as at the epoch's end. */
  readonly metricsEverySteps?: number;
  /** Default: PMOE_PRECISION, else fp32. */
  readonly precision?: Precision;
}

/** The precision PMOE_PRECISION asks for (fp32 when unset); anything else is an error naming the choices. */
export function precisionFromEnvironment(): Precision {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.PMOE_PRECISION;
  if (value === undefined || value === '') return 'fp32';
  if (!(PRECISIONS as readonly string[]).includes(value))
    throw new RangeError(`PMOE_PRECISION must be one of ${PRECISIONS.join(', ')}; got ${JSON.stringify(value)}`);
  return value as Precision;
}

export interface WebgpuLoopHooks {
  /** The epoch's order of the training images (the loop's seeded shuffle). */
  readonly order: () => ArrayLike<number>;
  /** Inference-mode loss and accuracy of the tfjs model (after the weights were copied back). */
  readonly evaluate: () => { loss: number; accuracy: number; predicted?: Int32Array };
  readonly onEpoch: (epoch: {
    epoch: number;
    trainLoss: number;
    trainAccuracy: number;
    testLoss: number;
    testAccuracy: number;
    trainSeconds: number;
    seconds: number;
  }) => Promise<void>;
}

/** The GPUDevice of tfjs's active webgpu backend (pmoe's step computes on the same device), if any. */
export function tfjsWebgpuDevice(): GPUDevice | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { device?: GPUDevice }).device;
}

/**
 * Whether trainImageModel takes pmoe's WebGPU step: on the webgpu backend, for a description the step
 * computes, unless PMOE_IMAGE_STEP=autodiff asks for tfjs's layers and autodiff.
 */
export function webgpuStepApplies(layers: ImageModelLayers | undefined): layers is ImageModelLayers {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return layers !== undefined && tfjsWebgpuDevice() !== undefined && env?.PMOE_IMAGE_STEP !== 'autodiff' && webgpuStepUnsupported(layers) === null;
}

function batchArrays(split: ImageSplit, order: ArrayLike<number>, start: number, end: number): { images: Float32Array; labels: Int32Array } {
  const [, h, w, c] = split.shape;
  const size = h * w * c;
  const images = new Float32Array((end - start) * size);
  const labels = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const row = order[i];
    images.set(split.images.subarray(row * size, (row + 1) * size), (i - start) * size);
    labels[i - start] = split.labels[row];
  }
  return { images, labels };
}

/** Copies the step's weights and moving statistics into the tfjs model. */
function writeBack(model: tfl.LayersModel, weights: Map<string, Float32Array>): void {
  for (const variable of model.weights) {
    const values = weights.get(variable.originalName);
    if (!values) continue;
    const tensor = tf.tensor(values, variable.shape as number[]);
    variable.write(tensor);
    tensor.dispose();
  }
}

/** Trains `model` in place on its layer description's WebGPU step; returns the step's record and the steps taken. */
export async function trainOnWebgpu(
  model: tfl.LayersModel,
  layers: ImageModelLayers,
  train: ImageSplit,
  settings: WebgpuLoopSettings,
  hooks: WebgpuLoopHooks,
): Promise<{ steps: number; record: WebgpuStepRecord }> {
  const device = tfjsWebgpuDevice();
  if (!device) throw new Error('webgpu step: the webgpu backend is not active');
  const requestedPrecision = settings.precision ?? precisionFromEnvironment();
  const trainer = new WebgpuImageTrainer(device, layers, { learningRate: settings.learningRate, precision: requestedPrecision });
  const values = new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
  trainer.writeWeights((name) => {
    const value = values.get(name);
    if (!value) throw new Error(`webgpu step: the model has no weight ${name}`);
    return value;
  });
  const count = train.shape[0];
  let steps = 0;
  try {
    for (let epoch = 1; epoch <= settings.epochs; epoch++) {
      const epochStart = performance.now();
      const order = hooks.order();
      let lossSum = 0;
      let correct = 0;
      const collect = async () => {
        const metrics = await trainer.readMetrics();
        checkFinite(`training loss at epoch ${epoch} (by step ${steps})`, metrics.lossSum, settings.learningRate);
        lossSum += metrics.lossSum;
        correct += metrics.correct;
      };
      for (let start = 0; start < count; start += settings.batchSize) {
        const { images, labels } = batchArrays(train, order, start, Math.min(count, start + settings.batchSize));
        await trainer.step(images, labels);
        steps++;
        if (settings.metricsEverySteps && steps % settings.metricsEverySteps === 0) await collect();
      }
      await collect();
      const trainSeconds = (performance.now() - epochStart) / 1000;
      writeBack(model, await trainer.readWeights());
      const test = hooks.evaluate();
      await hooks.onEpoch({
        epoch,
        trainLoss: lossSum / count,
        trainAccuracy: correct / count,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        trainSeconds,
        seconds: (performance.now() - epochStart) / 1000,
      });
    }
    const record: WebgpuStepRecord = {
      precision: trainer.kernels.precision,
      requestedPrecision,
      kernels: trainer.kernels.kernels,
      ...(trainer.kernels.fallback ? { fallback: trainer.kernels.fallback } : {}),
      dispatchesPerStep: await trainer.dispatchesPerStep(Math.min(count, settings.batchSize)),
      pipelines: trainer.pipelines,
      counters: { ...trainer.counters },
    };
    return { steps, record };
  } finally {
    await trainer.destroy();
  }
}
