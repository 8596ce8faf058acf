import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { collectRouting, discriminativeRoutingRate, separateRoutingCurve, type RoutingRate } from '../analysis/routing-rate.js';
import { routingUtilisation, stepUtilisation, type RoutingStepStats, type RoutingUtilisation } from '../analysis/utilisation.js';
import type { PatchDataset } from '../data/dataset.js';
import type { Batch } from '../data/batches.js';
import { createRng } from '../util/random.js';
import { buildModel, MODEL_KINDS, type ModelKind, type ModelOf, type ModelOptions } from '../models/build.js';
import type { PatchModel, RoutedPatchModel } from '../models/patch-model.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { integer, oneOf, OptionError, parseOptions, real } from '../util/options.js';
import { classificationLoss } from './loss.js';
import { evaluate } from './evaluate.js';
import { routerLinearLoss } from './router-loss.js';
import { checkFinite, checkFiniteWeights, epochOrder, MAX_EPOCHS, sgdEpoch } from './sgd.js';
import { buildTrainer, type FusedTrainer } from './fused.js';
import { FusedCnn } from './fused-cnn.js';
import { FusedPmoe, FusedRouterPhase } from './fused-pmoe.js';
import { FusedSoftPmoe } from './fused-soft-moe.js';
import { simdAvailable } from '../kernels/simd-gemm.js';
import { TwoLayerCnn } from '../models/two-layer-cnn.js';

/** Training settings; defaults are the paper's MNIST protocol (section 5). */
export const trainingSchema = z
  .object({
    model: oneOf(MODEL_KINDS).default('joint'),
    /** Epochs of SGD on the logistic loss; 0 only for separate training (routers only, as in Figure 8). */
    epochs: integer(0, MAX_EPOCHS).default(150),
    batchSize: integer(1).default(20),
    learningRate: real(0, Infinity, { exclusiveMin: true }).default(0.2),
    /** Separate regime: epochs of the router phase (the official code: 100). */
    routerEpochs: integer(0, MAX_EPOCHS).default(100),
    /** Separate regime: learning rate of the router phase; defaults to learningRate. */
    routerLearningRate: real(0, Infinity, { exclusiveMin: true }).optional(),
    /** Separate regime: N_r, the samples the routers learn from (the first N_r of the training set); default all. */
    routerSamples: integer(1).optional(),
    /** Evaluate train and test sets every this many epochs (and always after the last). */
    evalEvery: integer(1).default(1),
    seed: integer(0).default(0),
  })
  .strict();

export type TrainingOptions = z.input<typeof trainingSchema>;
export type TrainingConfig = z.output<typeof trainingSchema>;

export interface EpochMetrics {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
}

export interface RouterPhaseResult {
  /** Router loss l_r at the end of each router epoch. */
  readonly losses: readonly number[];
  /** Routing rate on the test set right after the router phase. */
  readonly routingRate: RoutingRate;
  /** Entry l - 1: the test routing rate this router would have with l patches per expert, l = 1..n. */
  readonly rateByPatchesPerExpert: readonly number[];
}

export interface TrainingResult<M extends PatchModel = PatchModel> {
  readonly model: M;
  readonly epochs: readonly EpochMetrics[];
  readonly routerPhase?: RouterPhaseResult;
  /** Discriminative-routing rate on the test set after training (pMoE only). */
  readonly routingRate?: RoutingRate;
  /** How the router used its experts: the test set after training, the last epoch's training steps (pMoE only). */
  readonly utilisation?: RoutingUtilisation;
  readonly wallTimeMs: number;
}

export interface TrainingHooks {
  /**
   * After each epoch of each phase; `total` counts the epochs of that phase. At an evaluated epoch
   * of a routed model, `utilisation` is its router's (the test set; the epochs' steps since the last evaluation).
   */
  onEpoch?(phase: 'routers' | 'experts' | 'model', epoch: number, total: number, metrics?: EpochMetrics, utilisation?: RoutingUtilisation): void;
}

/**
 * How SGD steps and evaluations are computed: `fused` (the default where WebAssembly SIMD runs):
 * hand-derived gradients on a few SIMD matrix products (fused-cnn.ts, fused-pmoe.ts); `autodiff`:
 * the models' tf forward passes under tf.train.sgd, the reference the fused path is tested against.
 * Both consume the same shuffles; their records agree up to float rounding.
 */
export type StepPath = 'fused' | 'autodiff';

export function defaultStepPath(): StepPath {
  // The fused steps compute on the CPU: on a GPU backend training stays on the tf ops.
  return simdAvailable() && tf.getBackend() !== 'webgpu' ? 'fused' : 'autodiff';
}

function isRouted(model: PatchModel): model is RoutedPatchModel {
  return 'forwardWithRouting' in model;
}

function routingRateOf(model: RoutedPatchModel, data: PatchDataset, kind: ModelKind): RoutingRate {
  return discriminativeRoutingRate(collectRouting(model, data), data, kind === 'separate' ? 'separate' : 'joint');
}

/** The router's utilisation of `data`, and of the training steps the stats sum. */
function utilisationOf(model: TwoLayerPmoe, data: PatchDataset, stats: RoutingStepStats): RoutingUtilisation {
  return { ...routingUtilisation(collectRouting(model, data), data.patchCount), ...stepUtilisation(stats, model.router.auxiliaryWeights) };
}

/** Sums what the autodiff path's training steps measured of the routing (the fused path keeps its own). */
class StepStatsSum {
  private stats = { steps: 0, patches: 0, dropped: 0, auxiliary: [0, 0, 0] };
  add(metrics: ArrayLike<number>, patches: number): void {
    this.stats.steps++;
    this.stats.patches += patches;
    for (let i = 0; i < 3; i++) this.stats.auxiliary[i] += metrics[i];
    this.stats.dropped += metrics[3];
  }
  take(): RoutingStepStats {
    const stats = this.stats;
    this.stats = { steps: 0, patches: 0, dropped: 0, auxiliary: [0, 0, 0] };
    return stats;
  }
}

/**
 * Trains one model the paper's way: the CNN and joint pMoE by SGD on the logistic loss; separate
 * pMoE first trains its routers on the linear loss (eq. 6), then its experts behind the frozen
 * hard routers. The caller owns and disposes the returned model: a TwoLayerCnn for `model: 'cnn'`,
 * a TwoLayerPmoe otherwise (the type follows `options.model`). Synchronous: it holds the event loop
 * until training ends; trainModelAsync is the same training as a Promise, with callbacks.
 */
export function trainModel<K extends ModelKind = 'joint'>(...args: Parameters<typeof trainingSteps<K>>): TrainingResult<ModelOf<K>> {
  const steps = trainingSteps(...args);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** What trainModelAsync's callbacks may change: set `stopTraining` to end training after the current epoch. */
export interface TrainingControl {
  stopTraining: boolean;
}

/**
 * A Keras-style callback of trainModelAsync. Epochs count from 1. `onEpochEnd` follows the epochs
 * of the model (for separate pMoE: the experts' phase, after the routers'); its `logs` are that
 * epoch's metrics, undefined on epochs not evaluated (`evalEvery`). `onEpoch` (TrainingHooks)
 * sees every phase, the routers' too. A Promise a callback returns is awaited; other values are ignored.
 * `model` (always given by trainModelAsync) is the model being trained, with this epoch's weights: read it,
 * never dispose it.
 */
export interface TrainingCallback extends TrainingHooks {
  onTrainBegin?(control: TrainingControl): unknown;
  onEpochEnd?(epoch: number, logs: EpochMetrics | undefined, control: TrainingControl, model?: PatchModel): unknown;
  onTrainEnd?(result: TrainingResult): unknown;
}

/** How long training runs between turns of the event loop in trainModelAsync. */
const YIELD_EVERY_MS = 50;

/**
 * trainModel as a Promise, with Keras-style callbacks (see TrainingCallback, and earlyStopping):
 * the event loop runs every 50 ms or so between SGD steps, so a signal handler (Ctrl-C), a timer
 * or a message is served within a fraction of a second rather than when training ends. The steps,
 * and so the result, are those of trainModel unless a callback stops training early.
 */
export async function trainModelAsync<K extends ModelKind = 'joint'>(
  modelOptions: ModelSettings,
  train: PatchDataset,
  test: PatchDataset,
  options: TrainingOptions & { readonly model?: K } = {},
  callbacks: TrainingCallback | readonly TrainingCallback[] = [],
  path: StepPath = defaultStepPath(),
): Promise<TrainingResult<ModelOf<K>>> {
  const list = Array.isArray(callbacks) ? (callbacks as readonly TrainingCallback[]) : [callbacks as TrainingCallback];
  const control: TrainingControl = { stopTraining: false };
  const hooks: TrainingHooks = {
    onEpoch: (...args) => {
      for (const callback of list) callback.onEpoch?.(...args);
    },
  };
  for (const callback of list) await callback.onTrainBegin?.(control);
  const steps = trainingSteps(modelOptions, train, test, options, hooks, path);
  let last = performance.now();
  let stop = control.stopTraining;
  for (;;) {
    const next = steps.next(stop);
    if (next.done) {
      try {
        for (const callback of list) await callback.onTrainEnd?.(next.value);
      } catch (error) {
        next.value.model.dispose();
        throw error;
      }
      return next.value;
    }
    if (next.value) {
      try {
        for (const callback of list) await callback.onEpochEnd?.(next.value.epoch, next.value.metrics, control, next.value.model);
      } catch (error) {
        steps.throw(error); // the generator disposes its model and rethrows
      }
      stop = control.stopTraining;
    }
    if (performance.now() - last >= YIELD_EVERY_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      last = performance.now();
    }
  }
}

/** Which metric earlyStopping watches, and how it decides. */
const earlyStoppingSchema = z
  .object({
    /** The metric of EpochMetrics watched; the test set plays the part of Keras's validation set. */
    monitor: oneOf(['testLoss', 'testAccuracy', 'trainLoss', 'trainAccuracy'] as const).default('testLoss'),
    /** The least change that counts as an improvement. */
    minDelta: real(0, Infinity).default(0),
    /** Evaluated epochs without improvement after which training stops. */
    patience: integer(0).default(0),
    /** `min` for losses, `max` for accuracies; `auto` picks by the metric's name. */
    mode: oneOf(['auto', 'min', 'max'] as const).default('auto'),
  })
  .strict();

export type EarlyStoppingOptions = z.input<typeof earlyStoppingSchema>;

/** The callback earlyStopping returns; `stoppedEpoch` is the epoch after which it stopped training, if it did. */
export interface EarlyStopping extends TrainingCallback {
  readonly stoppedEpoch: number | undefined;
}

/**
 * Keras's EarlyStopping for trainModelAsync: stops training once `monitor` has not improved by more
 * than `minDelta` for `patience` evaluated epochs (0 and 1 both stop at the first, as in Keras and
 * tfjs). The model keeps the weights of its last epoch.
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): EarlyStopping {
  const { monitor, minDelta, patience, mode } = parseOptions(earlyStoppingSchema, options, 'earlyStopping');
  const sign = (mode === 'auto' ? (monitor.endsWith('Loss') ? 'min' : 'max') : mode) === 'min' ? 1 : -1;
  let best = Infinity;
  let wait = 0;
  const state: { stoppedEpoch: number | undefined } & TrainingCallback = {
    stoppedEpoch: undefined,
    onTrainBegin() {
      [best, wait, state.stoppedEpoch] = [Infinity, 0, undefined];
    },
    onEpochEnd(epoch, logs, control) {
      if (!logs) return;
      const value = sign * logs[monitor];
      if (value < best - minDelta) [best, wait] = [value, 0];
      else if (++wait >= patience) {
        state.stoppedEpoch = epoch;
        control.stopTraining = true;
      }
    },
  };
  return state;
}

/** The model settings trainModel takes: what buildModel does, less what the data decide. */
type ModelSettings = Omit<ModelOptions, 'kind' | 'patchCount' | 'patchDim' | 'classes'>;

/** An epoch of the model's phase ended; the driver's next() answers whether to stop. */
interface EpochEnd {
  readonly epoch: number;
  readonly metrics: EpochMetrics | undefined;
  readonly model: PatchModel;
}

/**
 * The training as a sequence of steps: it yields after each SGD step, and an EpochEnd after each
 * epoch of the model's phase (next(true) then stops training), and returns the result.
 */
function* trainingSteps<K extends ModelKind = 'joint'>(
  modelOptions: ModelSettings,
  train: PatchDataset,
  test: PatchDataset,
  options: TrainingOptions & { readonly model?: K } = {},
  hooks: TrainingHooks = {},
  path: StepPath = defaultStepPath(),
): Generator<void | EpochEnd, TrainingResult<ModelOf<K>>, boolean | undefined> {
  const config = parseOptions(trainingSchema, options, 'training');
  const started = performance.now();
  const kind = config.model;
  if (config.epochs === 0 && kind !== 'separate') {
    throw new OptionError(`training.epochs: must be an integer >= 1 for the ${kind} model (0 is allowed for separate training only) (got 0)`);
  }
  const model = buildModel({
    ...modelOptions,
    kind: kind as K,
    patchCount: train.patchCount,
    patchDim: train.patchDim,
    classes: train.classes,
    seed: modelOptions.seed ?? config.seed,
  });
  const rng = createRng(`${config.seed}:shuffle`);
  try {
    let routerPhase: RouterPhaseResult | undefined;
    if (kind === 'separate' && model instanceof TwoLayerPmoe) {
      routerPhase = yield* trainRouterPhase(model, train, test, config, rng, hooks, path);
      model.routersFrozen = true;
    }
    const { history: epochs, utilisation } = yield* trainByLoss(model, train, test, config, rng, kind === 'separate' ? 'experts' : 'model', hooks, path);
    const routingRate = isRouted(model) && epochs.length > 0 ? routingRateOf(model, test, kind) : routerPhase?.routingRate;
    return { model, epochs, routerPhase, routingRate, ...(utilisation ? { utilisation } : {}), wallTimeMs: performance.now() - started };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** N_r as used: routerSamples, at most the N training samples there are (and all of them by default). */
export function routerSampleCount(config: Pick<TrainingConfig, 'routerSamples'>, trainCount: number): number {
  return Math.min(config.routerSamples ?? trainCount, trainCount);
}

function* trainRouterPhase(
  model: TwoLayerPmoe,
  train: PatchDataset,
  test: PatchDataset,
  config: TrainingConfig,
  rng: ReturnType<typeof createRng>,
  hooks: TrainingHooks,
  path: StepPath,
): Generator<void, RouterPhaseResult> {
  const learningRate = config.routerLearningRate ?? config.learningRate;
  const count = routerSampleCount(config, train.count);
  const routerData: PatchDataset = count === train.count ? train : sliceFirst(train, count);
  const settings = { learningRate, batchSize: config.batchSize };
  const fused =
    path === 'fused' ? buildTrainer(() => new FusedRouterPhase(model, routerData, settings), { batchSize: config.batchSize, samples: routerData.count }) : null;
  const optimizer = tf.train.sgd(learningRate);
  const losses: number[] = [];
  try {
    for (let epoch = 1; epoch <= config.routerEpochs; epoch++) {
      if (fused) {
        for (const samples of batchesOf(epochOrder(routerData.count, rng), config.batchSize)) {
          fused.step(samples);
          yield;
        }
      } else {
        yield* sgdEpoch(routerData, settings, rng, [model.routers], (batch) => routerLinearLoss(model.routers, batch), optimizer);
      }
      const loss = fused ? fused.loss() : wholeSetRouterLoss(model, routerData);
      checkFinite('router loss', loss, learningRate);
      losses.push(loss);
      hooks.onEpoch?.('routers', epoch, config.routerEpochs);
    }
    fused?.writeBack();
  } finally {
    optimizer.dispose();
    fused?.dispose();
  }
  return {
    losses,
    routingRate: routingRateOf(model, test, 'separate'),
    rateByPatchesPerExpert: separateRoutingCurve(model.routers, test),
  };
}

function wholeSetRouterLoss(model: RoutedPatchModel, data: PatchDataset): number {
  const batch = {
    patches: tf.tensor3d(data.patches, [data.count, data.patchCount, data.patchDim]),
    labels: tf.tensor1d(data.labels, 'int32'),
  };
  const loss = routerLinearLoss(model.routers, batch);
  const value = loss.dataSync()[0];
  tf.dispose([loss, batch.patches, batch.labels]);
  return value;
}

function sliceFirst(data: PatchDataset, count: number): PatchDataset {
  const size = data.patchCount * data.patchDim;
  return {
    ...data,
    patches: data.patches.subarray(0, count * size),
    labels: data.labels.subarray(0, count),
    discriminativePatch: data.discriminativePatch.subarray(0, count),
    count,
    lStar: undefined,
    spurious: data.spurious && { values: data.spurious.values.subarray(0, count), patch: data.spurious.patch.subarray(0, count) },
  };
}

function* trainByLoss(
  model: PatchModel,
  train: PatchDataset,
  test: PatchDataset,
  config: TrainingConfig,
  rng: ReturnType<typeof createRng>,
  phase: 'experts' | 'model',
  hooks: TrainingHooks,
  path: StepPath,
): Generator<void | EpochEnd, { history: EpochMetrics[]; utilisation?: RoutingUtilisation }, boolean | undefined> {
  const fused = path === 'fused' && config.epochs > 0 ? fusedTrainer(model, train, test, config) : null;
  const optimizer = tf.train.sgd(config.learningRate);
  const variables = model.trainableVariables();
  const history: EpochMetrics[] = [];
  const pmoe = model instanceof TwoLayerPmoe ? model : null;
  const steps = new StepStatsSum();
  let utilisation: RoutingUtilisation | undefined;
  // The training loss: the router's auxiliary losses join the classification loss.
  const batchLoss = (batch: Batch): tf.Scalar => {
    if (!pmoe) return classificationLoss(model.forward(batch.patches), batch.labels);
    const { logits, auxiliaryLoss, metrics } = pmoe.trainingForward(batch.patches);
    steps.add(metrics.dataSync(), batch.patches.shape[0] * batch.patches.shape[1]);
    const loss = classificationLoss(logits, batch.labels);
    return auxiliaryLoss ? tf.add(loss, auxiliaryLoss) : loss;
  };
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      if (fused) {
        for (const samples of batchesOf(epochOrder(train.count, rng), config.batchSize)) {
          fused.step(samples);
          yield;
        }
        // The variables follow the fused weights epoch by epoch, for the checks and whoever reads them.
        fused.writeBack();
      } else {
        yield* sgdEpoch(train, config, rng, variables, batchLoss, optimizer);
      }
      checkFiniteWeights(variables, epoch, config.learningRate);
      let metrics: EpochMetrics | undefined;
      if (epoch % config.evalEvery === 0 || epoch === config.epochs) {
        const trained = fused ? fused.evaluate('train') : evaluate(model, train);
        const tested = fused ? fused.evaluate('test') : evaluate(model, test);
        checkFinite('training loss', trained.loss, config.learningRate);
        metrics = {
          epoch,
          trainLoss: trained.loss,
          trainAccuracy: trained.accuracy,
          testLoss: tested.loss,
          testAccuracy: tested.accuracy,
        };
        history.push(metrics);
        if (pmoe) utilisation = utilisationOf(pmoe, test, fused?.takeStepStats?.() ?? steps.take());
      }
      hooks.onEpoch?.(phase, epoch, config.epochs, metrics, metrics ? utilisation : undefined);
      if ((yield { epoch, metrics, model }) === true) break;
    }
  } finally {
    optimizer.dispose();
    fused?.dispose();
  }
  return { history, utilisation };
}

/** The fused trainer of the paper's two-layer models. */
function fusedTrainer(model: PatchModel, train: PatchDataset, test: PatchDataset, config: TrainingConfig): FusedTrainer | null {
  const settings = { learningRate: config.learningRate, batchSize: config.batchSize };
  const what = { batchSize: config.batchSize, samples: train.count + test.count };
  if (model instanceof TwoLayerCnn) return buildTrainer(() => new FusedCnn(model, train, test, settings), what);
  if (model instanceof TwoLayerPmoe) {
    if (model.router.host) return buildTrainer(() => new FusedPmoe(model, train, test, settings), what);
    // A router with no kernel on plain arrays trains on the tf path.
    return model.router.soft ? buildTrainer(() => new FusedSoftPmoe(model, train, test, settings), what) : null;
  }
  return null;
}

/** Consecutive runs of `order` of `batchSize` indices (the last may be shorter). */
function* batchesOf(order: number[], batchSize: number): Generator<number[]> {
  for (let start = 0; start < order.length; start += batchSize) yield order.slice(start, start + batchSize);
}
