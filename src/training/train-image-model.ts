/**
 * Trains a tfjs Layers image classifier (the WRN or WRN-pMoE of §5) the official code's way:
 * plain SGD (lr 0.1, no momentum, no weight decay, no augmentation), softmax cross-entropy on the
 * model's logits, mini-batches of a fresh seeded shuffle each epoch, test evaluation after every
 * epoch. A manual loop rather than model.fit: the shuffle is ours and seeded, so the same model
 * weights, data and seed give identical numbers on the same backend (checked on wasm).
 *
 * BatchNormalization runs in training mode during the steps (batch statistics; moving averages
 * updated, as in model.fit) and in inference mode for the test evaluation.
 *
 * A model with one output (a sigmoid head, binary tasks) outputs class 1's logit f, as the official
 * CelebA binary code: binary cross-entropy, class 1 predicted for f > 0 (the same rule as argmax
 * over two logits). The official code's Keras BinaryAccuracy thresholds the raw logit at 0.5
 * instead (sigmoid 0.62); that accuracy is recorded beside (`testAccuracyLogitAboveHalf`).
 *
 * Two paths compute the steps and evaluations (ImageStepPath): on the wasm backend the tape-free
 * step of fused-wrn.ts for the models buildWideResNet / buildWrnPmoe make, elsewhere (and with
 * PMOE_IMAGE_STEP=autodiff or `step: 'autodiff'`) tfjs's layers under optimizer.minimize, the
 * reference that the fused step is tested against. Their records agree up to float rounding.
 *
 * On the webgpu backend, given the model's layer description (`layers`), the steps run on pmoe's
 * own WebGPU step (webgpu/train-on-webgpu.ts: one command buffer per step, nothing read back inside
 * it); the tfjs model evaluates. PMOE_IMAGE_STEP=autodiff keeps tfjs's layers and autodiff there.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageData, ImageSplit } from '../data/image-split.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { createRng } from '../util/random.js';
import { integer, parseOptions, real } from '../util/options.js';
import { simdAvailable } from '../kernels/simd-gemm.js';
import { layersOf } from '../models/wrn-layers.js';
import { classificationLoss } from './loss.js';
import { checkFinite, MAX_EPOCHS } from './sgd.js';
import { FusedWrn, fusedWrnUnsupported } from './fused-wrn.js';
import type { ImageModelLayers } from '../models/wrn-layers.js';
import { trainOnWebgpu, webgpuStepApplies, type WebgpuStepRecord } from './webgpu/train-on-webgpu.js';
import type { Precision } from './webgpu/precision.js';

export const imageTrainingSchema = z
  .object({
    /** The official code: 50. */
    epochs: integer(1, MAX_EPOCHS).default(50),
    /** The official code: 128. The last batch of an epoch may be smaller. */
    batchSize: integer(1).default(128),
    /** The official code: 0.1, plain SGD. */
    learningRate: real(0, Infinity, { exclusiveMin: true }).default(0.1),
    /** Seeds the shuffles (the model's weights are seeded where it is built). */
    seed: integer(0).default(0),
    /** Batch size of the test evaluation (inference only; does not change the numbers). */
    evalBatchSize: integer(1).default(256),
  })
  .strict();

/**
 * How an image model's steps and evaluations are computed: `fused`, a tape-free step with
 * hand-derived gradients (fused-wrn.ts on pmoe's SIMD kernels on wasm; webgpu/ on webgpu);
 * `autodiff`, the tfjs model under optimizer.minimize and model.apply, the reference.
 */
export type ImageStepPath = 'fused' | 'autodiff';
export const IMAGE_STEP_PATHS: readonly ImageStepPath[] = ['fused', 'autodiff'];
/** Sets the default path (`autodiff` forces the tfjs one). */
export const IMAGE_STEP_ENV = 'PMOE_IMAGE_STEP';

export type ImageTrainingOptions = z.input<typeof imageTrainingSchema> & {
  /** Called after each epoch with its record (awaited when it returns a promise). */
  readonly onEpoch?: (record: ImageEpochRecord) => void | Promise<void>;
  /** The step path; by default PMOE_IMAGE_STEP, else `fused` where it runs (imageStepPath). */
  readonly step?: ImageStepPath;
  /** The model's layer description (describeWrnModel of its config): on webgpu, pmoe's own step trains it. */
  readonly layers?: ImageModelLayers;
  /** pmoe's WebGPU step only: also read the loss and accuracy every this many steps (default: once per epoch). */
  readonly metricsEverySteps?: number;
  /** pmoe's WebGPU step only: fp32 or mixed (webgpu/precision.ts; default PMOE_PRECISION, else fp32). */
  readonly precision?: Precision;
};

export interface ImageEpochRecord {
  /** 1-based. */
  readonly epoch: number;
  /** Mean over the epoch's mini-batches (training mode, each before its update), as Keras reports. */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  /** Inference-mode loss and accuracy on the test split after the epoch (NaN without a test split). */
  readonly testLoss: number;
  readonly testAccuracy: number;
  /** One-logit (sigmoid) models: test accuracy with class 1 predicted for logit > 0.5, the official code's Keras BinaryAccuracy on raw logits. */
  readonly testAccuracyLogitAboveHalf?: number;
  /** Wall time of the epoch's training steps, seconds. */
  readonly trainSeconds: number;
  /** Wall time of the epoch including the test evaluation, seconds. */
  readonly seconds: number;
}

export interface ImageTrainingResult {
  readonly epochs: ImageEpochRecord[];
  /** SGD steps taken. */
  readonly steps: number;
  /** Total wall time, seconds. */
  readonly seconds: number;
  readonly backend: string;
  /** Which path computed the steps and evaluations. */
  readonly step: ImageStepPath;
  /** The predicted class of each test image after the last epoch (absent without a test split). */
  readonly testPredictions?: Int32Array;
  /** Present when pmoe's WebGPU step trained the model: its precision, kernels and device work. */
  readonly webgpuStep?: WebgpuStepRecord;
}

function checkSplit(what: string, split: ImageSplit, inputShape: (number | null)[], classes: number): void {
  const [count, h, w, c] = split.shape;
  const expected = inputShape.slice(1);
  if (![h, w, c].every((v, i) => expected[i] == null || expected[i] === v)) {
    throw new RangeError(`trainImageModel: ${what} images are ${h}x${w}x${c} but the model takes ${expected.join('x')}`);
  }
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`trainImageModel: ${what} split has ${count} images`);
  if (split.images.length !== count * h * w * c) {
    throw new RangeError(`trainImageModel: ${what} has ${split.images.length} pixel values for shape [${split.shape.join(', ')}]`);
  }
  if (split.labels.length !== count) throw new RangeError(`trainImageModel: ${what} has ${split.labels.length} labels for ${count} images`);
  const bad = split.labels.findIndex((label) => !(Number.isInteger(label) && label >= 0 && label < classes));
  if (bad >= 0) throw new RangeError(`trainImageModel: ${what} label ${split.labels[bad]} at index ${bad} is not a class 0..${classes - 1}`);
}

/** Images and labels of `order[start..end)` as tensors. */
function batchOf(split: ImageSplit, order: ArrayLike<number>, start: number, end: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const [, h, w, c] = split.shape;
  const size = h * w * c;
  const images = new Float32Array((end - start) * size);
  const labels = new Int32Array(end - start);
  for (let i = start; i < end; i++) {
    const row = order[i];
    images.set(split.images.subarray(row * size, (row + 1) * size), (i - start) * size);
    labels[i - start] = split.labels[row];
  }
  return { x: tf.tensor4d(images, [end - start, h, w, c]), y: tf.tensor1d(labels, 'int32') };
}

/** Mean loss: softmax cross-entropy, or binary cross-entropy on one logit (class 1's). */
function imageLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return logits.shape[1] === 1
    ? (tf.losses.sigmoidCrossEntropy(tf.reshape(tf.cast(labels, 'float32'), [-1, 1]), logits) as tf.Scalar)
    : classificationLoss(logits, labels);
}

/** Predicted class: argmax, or, on one logit (class 1's), class 1 where it exceeds `threshold` (0: the argmax rule). */
function imagePredictions(logits: tf.Tensor2D, threshold = 0): tf.Tensor1D {
  return logits.shape[1] === 1 ? (tf.cast(tf.greater(tf.reshape(logits, [-1]), threshold), 'int32') as tf.Tensor1D) : (tf.argMax(logits, 1) as tf.Tensor1D);
}

/**
 * Inference-mode mean loss and accuracy over a split, and the predicted class of each image; one-logit
 * models also the accuracy at the official code's logit > 0.5.
 */
export function evaluateImageModel(
  model: tfl.LayersModel,
  split: ImageSplit,
  batchSize = 256,
): { loss: number; accuracy: number; predicted: Int32Array; accuracyLogitAboveHalf?: number } {
  const count = split.shape[0];
  const order = Int32Array.from({ length: count }, (_, i) => i);
  const predicted = new Int32Array(count);
  let aboveHalfCorrect: number | undefined;
  let lossSum = 0;
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const { x, y } = batchOf(split, order, start, end);
    const [loss, classes, aboveHalf] = tf.tidy(() => {
      const logits = model.apply(x, { training: false }) as tf.Tensor2D;
      const hits = logits.shape[1] === 1 ? [tf.sum(tf.cast(tf.equal(imagePredictions(logits, 0.5), y), 'int32'))] : [];
      return [tf.mul(imageLoss(logits, y), end - start), imagePredictions(logits), ...hits];
    });
    lossSum += loss.dataSync()[0];
    predicted.set(classes.dataSync() as Int32Array, start);
    if (aboveHalf) aboveHalfCorrect = (aboveHalfCorrect ?? 0) + aboveHalf.dataSync()[0];
    tf.dispose([x, y, loss, classes, ...(aboveHalf ? [aboveHalf] : [])]);
  }
  let correct = 0;
  for (let i = 0; i < count; i++) if (predicted[i] === split.labels[i]) correct++;
  return {
    loss: lossSum / count,
    accuracy: correct / count,
    predicted,
    ...(aboveHalfCorrect === undefined ? {} : { accuracyLogitAboveHalf: aboveHalfCorrect / count }),
  };
}

/**
 * The path that trains `model`: `requested`, else PMOE_IMAGE_STEP, else `fused` where it runs (the
 * wasm backend with WebAssembly SIMD, a model built by buildWideResNet / buildWrnPmoe whose layers
 * the fused step takes) and `autodiff` elsewhere. A `fused` request that cannot run is an error
 * saying why.
 */
export function imageStepPath(model: tfl.LayersModel, requested?: ImageStepPath): ImageStepPath {
  const setting = requested ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[IMAGE_STEP_ENV];
  if (setting !== undefined && setting !== '' && !(IMAGE_STEP_PATHS as readonly string[]).includes(setting)) {
    throw new RangeError(`${requested === undefined ? IMAGE_STEP_ENV : 'trainImageModel.step'} must be 'fused' or 'autodiff'; got ${JSON.stringify(setting)}`);
  }
  if (setting === 'autodiff') return 'autodiff';
  const layers = layersOf(model);
  const reason =
    tf.getBackend() !== 'wasm'
      ? `the ${tf.getBackend()} backend is active (the fused step runs with wasm)`
      : !simdAvailable()
        ? 'this runtime has no WebAssembly SIMD'
        : layers === undefined
          ? 'the model was not built by buildWideResNet or buildWrnPmoe'
          : fusedWrnUnsupported(layers);
  if (reason === null) return 'fused';
  if (setting === 'fused') throw new Error(`trainImageModel: the fused step cannot train this model: ${reason}`);
  return 'autodiff';
}

/**
 * Trains `model` (its logits [batch, classes]) on `data.train` by SGD and evaluates it on
 * `data.test` after every epoch. The model is trained in place.
 */
export async function trainImageModel(model: tfl.LayersModel, data: ImageData, options: ImageTrainingOptions = {}): Promise<ImageTrainingResult> {
  const { onEpoch, step: requested, layers: givenLayers, metricsEverySteps, precision, ...rest } = options;
  const config = parseOptions(imageTrainingSchema, rest, 'trainImageModel');
  const outputShape = model.outputs[0].shape;
  const units = outputShape[outputShape.length - 1];
  if (outputShape.length !== 2 || units == null || units < 1) {
    throw new RangeError(`trainImageModel: the model must output logits [batch, classes >= 2] or one logit [batch, 1]; it outputs [${outputShape.join(', ')}]`);
  }
  const classes = units === 1 ? 2 : units;
  const inputShape = model.inputs[0].shape;
  checkSplit('train', data.train, inputShape, classes);
  if (data.test) checkSplit('test', data.test, inputShape, classes);

  const rng = createRng(`train-image-model:${config.seed}`);
  const count = data.train.shape[0];
  const epochs: ImageEpochRecord[] = [];
  let testPredictions: Int32Array | undefined;
  const started = performance.now();
  const layers = givenLayers ?? layersOf(model);
  if (requested !== 'autodiff' && webgpuStepApplies(layers)) {
    const { steps, record } = await trainOnWebgpu(
      model,
      layers,
      data.train,
      { ...config, metricsEverySteps, precision },
      {
        order: () => rng.shuffle(Array.from({ length: count }, (_, i) => i)),
        evaluate: () => {
          const test = data.test ? evaluateImageModel(model, data.test, config.evalBatchSize) : { loss: NaN, accuracy: NaN, predicted: undefined };
          testPredictions = test.predicted;
          return test;
        },
        onEpoch: async (record) => {
          epochs.push(record);
          await onEpoch?.(record);
        },
      },
    );
    return {
      epochs,
      steps,
      seconds: (performance.now() - started) / 1000,
      backend: tf.getBackend(),
      step: 'fused',
      webgpuStep: record,
      ...(testPredictions ? { testPredictions } : {}),
    };
  }
  const path = imageStepPath(model, requested);
  const trainer = path === 'fused' ? new FusedWrn(model, layers!, { learningRate: config.learningRate, batchSize: Math.min(config.batchSize, count) }) : null;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = trainer ? null : tf.train.sgd(config.learningRate);
  let steps = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const epochStart = performance.now();
      const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
      let lossSum = 0;
      let correct = 0;
      for (let start = 0; start < count; start += config.batchSize) {
        const end = Math.min(count, start + config.batchSize);
        const result = trainer ? trainer.step(data.train, order.slice(start, end)) : autodiffStep(model, optimizer!, variables, data.train, order, start, end);
        checkFinite(`training loss at epoch ${epoch}, step ${steps + 1}`, result.loss, config.learningRate);
        lossSum += result.loss * (end - start);
        correct += result.correct;
        steps++;
      }
      const trainSeconds = (performance.now() - epochStart) / 1000;
      const noTest = { loss: NaN, accuracy: NaN, predicted: undefined };
      const test = data.test ? (trainer ? trainer.evaluate(data.test) : evaluateImageModel(model, data.test, config.evalBatchSize)) : noTest;
      testPredictions = test.predicted;
      const aboveHalf = (test as { accuracyLogitAboveHalf?: number }).accuracyLogitAboveHalf;
      // The model holds the weights after every epoch, whichever path trains it.
      trainer?.writeBack();
      const record: ImageEpochRecord = {
        epoch,
        trainLoss: lossSum / count,
        trainAccuracy: correct / count,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        ...(aboveHalf === undefined ? {} : { testAccuracyLogitAboveHalf: aboveHalf }),
        trainSeconds,
        seconds: (performance.now() - epochStart) / 1000,
      };
      epochs.push(record);
      await onEpoch?.(record);
    }
  } finally {
    optimizer?.dispose();
    trainer?.dispose();
  }
  return {
    epochs,
    steps,
    seconds: (performance.now() - started) / 1000,
    backend: tf.getBackend(),
    step: path,
    ...(testPredictions ? { testPredictions } : {}),
  };
}

/** One step of tfjs's autodiff on the images at order[start..end): the batch's mean loss and correct predictions, before the update. */
function autodiffStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  split: ImageSplit,
  order: ArrayLike<number>,
  start: number,
  end: number,
): { loss: number; correct: number } {
  const { x, y } = batchOf(split, order, start, end);
  let hits: tf.Scalar | undefined;
  const loss = optimizer.minimize(
    () => {
      const logits = model.apply(x, { training: true }) as tf.Tensor2D;
      hits = tf.keep(tf.sum(tf.cast(tf.equal(imagePredictions(logits), y), 'int32')) as tf.Scalar);
      // The layers' own losses (a PatchMoE router's auxiliary losses), as tfjs-layers' fit adds them.
      return model.calculateLosses().reduce((total: tf.Scalar, extra) => tf.add(total, extra), imageLoss(logits, y));
    },
    true,
    variables,
  );
  const result = { loss: loss!.dataSync()[0], correct: hits!.dataSync()[0] };
  tf.dispose([x, y, loss!, hits!]);
  return result;
}
