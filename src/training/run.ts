import * as tf from '@tensorflow/tfjs-core';
import { modelFlops } from '../analysis/flops.js';
import {
  groupAccuracy,
  loadImageData,
  planImageData,
  type ImageDataPlan,
  type ImageDataSpec,
  type LoadedImageData,
  type ResolvedImageDataSpec,
} from '../data/image-source.js';
import { loadData, type DataSpec, type LoadedData, type ResolvedDataSpec } from '../data/source.js';
import type { PatchModel, RoutedPatchModel } from '../models/patch-model.js';
import type { PatchDataset } from '../data/dataset.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelOptions } from '../models/build.js';
import { buildWrnModel, resolveWrnModel, trainableParams, type WrnModelConfig, type WrnModelSpec } from '../models/wide-resnet.js';
import { describeWrnModel } from '../models/wrn-layers.js';
import type { WebgpuStepRecord } from './webgpu/train-on-webgpu.js';
import type { RoutingRate } from '../analysis/routing-rate.js';
import type { RoutingUtilisation } from '../analysis/utilisation.js';
import { imageRoutingShares, patchRoutingShares, spuriousMetrics, spuriousMetricsOfGroups, type SpuriousMetrics } from '../analysis/spurious-metrics.js';
import { evaluateImageModel } from './train-image-model.js';
import { predictClasses } from './evaluate.js';
import { OptionError, parseOptions } from '../util/options.js';
import type { z } from 'zod';
import { imageTrainingSchema, trainImageModel, type ImageEpochRecord } from './train-image-model.js';
import { routerSampleCount, trainModelAsync, trainingSchema, type EpochMetrics, type TrainingHooks, type TrainingOptions } from './train.js';
import { provenance, type Provenance } from './provenance.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import type { TwoLayerCnn } from '../models/two-layer-cnn.js';

/** Model options a run may set; the data fix n, d and the classes. */
export type RunModelOptions = Omit<ModelOptions, 'kind' | 'patchCount' | 'patchDim' | 'classes'>;

/** A run of the paper's two-layer models (CNN, separate or joint pMoE) on patch data. */
export interface PatchRunSpec {
  readonly data: DataSpec;
  readonly model?: RunModelOptions;
  readonly training?: TrainingOptions;
}

/**
 * A run of the Wide-ResNet or WRN-pMoE of §5 on image data. `training.seed` seeds the model's
 * weights and the shuffles; `data.seed` the draw of the training images.
 */
export interface ImageRunSpec {
  readonly kind: 'image';
  readonly data: ImageDataSpec;
  readonly model: WrnModelSpec;
  readonly training?: z.input<typeof imageTrainingSchema>;
}

/** Any run a sweep can hold. */
export type RunSpec = PatchRunSpec | ImageRunSpec;

/** One finished two-layer run, ready to be written as a JSON line. */
export interface PatchRunRecord {
  readonly data: ResolvedDataSpec;
  /**
   * The model the run built, every default filled in (n, d and the classes are in `data`); for
   * pMoE `neurons` is m, all experts' neurons (k x m/k). Records written before this was recorded hold
   * only the options given.
   */
  readonly model: RunModelOptions;
  readonly training: z.output<typeof trainingSchema>;
  readonly backend: string;
  /** l* of the data actually drawn (train and test), where the source can compute it. */
  readonly lStar?: number;
  readonly epochs: readonly EpochMetrics[];
  readonly routerLosses?: readonly number[];
  readonly routerRoutingRate?: RoutingRate;
  /** Separate training: entry l - 1 is the router's test routing rate at l patches per expert. */
  readonly routerRateByPatchesPerExpert?: readonly number[];
  readonly routingRate?: RoutingRate;
  /** pMoE: how the router used its experts after training (test set) and in the last epoch's steps. Absent from records written before it was recorded. */
  readonly utilisation?: RoutingUtilisation;
  readonly finalTestAccuracy: number;
  /** Data with a spurious feature (data.spuriousStrength): per-group, worst-group and reversed accuracy, and routing, after training. */
  readonly spurious?: SpuriousMetrics;
  readonly wallTimeMs: number;
  /** Absent from records written before provenance was recorded. */
  readonly provenance?: Provenance;
}

/** Analytic FLOPs of an image model (../analysis/flops.ts; the PatchMoE counted on its gathered patches). */
export interface ImageRunFlops {
  readonly forwardPerSample: number;
  /** Forward plus backward: one image's share of a training step. */
  readonly trainStepPerSample: number;
  /** trainStepPerSample x N x epochs: the arithmetic of the whole training (evaluation not counted). */
  readonly training: number;
  /** WRN-pMoE: the PatchMoE layer's forward FLOPs per sample, routers and experts. */
  readonly patchMoe?: { readonly routers: number; readonly experts: number };
}

/** One finished image run. */
export interface ImageRunRecord {
  readonly kind: 'image';
  readonly data: ResolvedImageDataSpec;
  readonly classNames: readonly string[];
  readonly model: WrnModelConfig;
  readonly training: z.output<typeof imageTrainingSchema>;
  readonly backend: string;
  /** Where pmoe's WebGPU step trained the model (not tfjs's autodiff): its precision, kernels and device work. */
  readonly webgpuStep?: WebgpuStepRecord;
  readonly epochs: readonly ImageEpochRecord[];
  readonly finalTestAccuracy: number;
  /** One-logit (sigmoid head) models: the last epoch's test accuracy at the official code's logit > 0.5 (finalTestAccuracy is at logit > 0). */
  readonly finalTestAccuracyLogitAboveHalf?: number;
  /** Test accuracy per group where the data define groups (CelebA spurious), after the last epoch. */
  readonly groupAccuracy?: readonly { readonly group: string; readonly count: number; readonly accuracy: number }[];
  /** Data with a spurious feature (quadrants with spuriousStrength, CelebA spurious): the same metrics as a two-layer run's. */
  readonly spurious?: SpuriousMetrics;
  readonly trainableParams: number;
  readonly flops: ImageRunFlops;
  /** SGD steps taken. */
  readonly steps: number;
  /** Time in the SGD steps only (no evaluation): the paper's Table 2 training time. */
  readonly trainTimeMs: number;
  /** Making or reading the data, before training. */
  readonly dataTimeMs: number;
  /** Training with the evaluation after every epoch. */
  readonly wallTimeMs: number;
  /** Absent from records written before provenance was recorded. */
  readonly provenance?: Provenance;
}

export type RunRecord = PatchRunRecord | ImageRunRecord;

export function isImageRunSpec(spec: RunSpec): spec is ImageRunSpec {
  return 'kind' in spec && spec.kind === 'image';
}

export function isImageRunRecord(record: RunRecord): record is ImageRunRecord {
  return 'kind' in record && record.kind === 'image';
}

/** An image run checked without reading data or building the model. */
export interface ImageRunPlan {
  readonly data: ImageDataPlan;
  readonly model: WrnModelConfig;
  readonly training: z.output<typeof imageTrainingSchema>;
}

/** Validates every option of an image run (OptionError naming the option otherwise); reads and builds nothing. */
export function planImageRun(spec: ImageRunSpec): ImageRunPlan {
  const { kind: _kind, data, model, training, ...rest } = spec;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new OptionError(
      `image run: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (allowed: kind, data, model, training)`,
    );
  if (model === undefined) throw new OptionError(`model.architecture: must be one of 'wrn', 'wrn-pmoe' (got nothing)`);
  const trainingConfig = parseOptions(imageTrainingSchema, training ?? {}, 'training');
  const dataPlan = planImageData(data);
  const [height, width, channels] = dataPlan.imageShape;
  const modelConfig = resolveWrnModel(model, {
    classes: dataPlan.classes,
    inputSize: height === width ? height : [height, width],
    channels,
    seed: trainingConfig.seed,
  });
  return { data: dataPlan, model: modelConfig, training: trainingConfig };
}

/** Makes the images, builds and trains the WRN or WRN-pMoE, and returns its record. */
async function runImageOnce(spec: ImageRunSpec, hooks: TrainingHooks): Promise<ImageRunRecord> {
  const startedAt = new Date();
  const plan = planImageRun(spec);
  const dataStart = performance.now();
  const data = await loadImageData(spec.data);
  const dataTimeMs = performance.now() - dataStart;
  const model = buildWrnModel(plan.model);
  try {
    const flops = modelFlops(model, 1);
    const moe = flops.perLayer.find((layer) => layer.className === 'PatchMoE')?.parts;
    const result = await trainImageModel(model, data, {
      ...plan.training,
      layers: describeWrnModel(plan.model),
      onEpoch: (e) => hooks.onEpoch?.('model', e.epoch, plan.training.epochs, e),
    });
    const last = result.epochs.at(-1);
    const groups = data.testGroups && result.testPredictions ? groupAccuracy(data.testGroups, data.test.labels, result.testPredictions) : undefined;
    const spurious = imageSpuriousMetrics(model, data, result.testPredictions);
    return {
      kind: 'image',
      data: data.spec,
      classNames: data.classNames,
      model: plan.model,
      training: plan.training,
      backend: result.backend,
      ...(result.webgpuStep ? { webgpuStep: result.webgpuStep } : {}),
      epochs: result.epochs,
      finalTestAccuracy: last?.testAccuracy ?? NaN,
      ...(last?.testAccuracyLogitAboveHalf === undefined ? {} : { finalTestAccuracyLogitAboveHalf: last.testAccuracyLogitAboveHalf }),
      ...(groups ? { groupAccuracy: groups } : {}),
      ...(spurious ? { spurious } : {}),
      trainableParams: trainableParams(model),
      flops: {
        forwardPerSample: flops.forward,
        trainStepPerSample: flops.trainStep,
        training: flops.trainStep * data.spec.trainSize * plan.training.epochs,
        ...(moe ? { patchMoe: { routers: moe.routers, experts: moe.experts } } : {}),
      },
      steps: result.steps,
      trainTimeMs: 1000 * result.epochs.reduce((sum, e) => sum + e.trainSeconds, 0),
      dataTimeMs,
      wallTimeMs: 1000 * result.seconds,
      provenance: await provenance(startedAt),
    };
  } finally {
    model.dispose();
  }
}

/**
 * The spurious metrics of a trained image model: on the quadrants' balanced and reversed sets (and
 * WRN-pMoE's routing on the balanced one), or on CelebA spurious's test groups.
 */
function imageSpuriousMetrics(model: tfl.LayersModel, data: LoadedImageData, testPredictions: Int32Array | undefined): SpuriousMetrics | undefined {
  if (data.spurious) {
    const { balanced, reversed } = data.spurious;
    const predict = (set: typeof balanced) => ({ labels: set.labels, items: set.spurious.values, predicted: evaluateImageModel(model, set).predicted });
    const routing = imageRoutingShares(model, balanced, data.classNames.length);
    return spuriousMetrics(data.spurious, predict(balanced), predict(reversed), routing);
  }
  if (data.spec.source === 'celeba-spurious' && data.testGroups && testPredictions) {
    // Groups 0 smiling + black, 1 smiling + blond, 2 not smiling + black, 3 not smiling + blond; label 1 = smiling. Black hair goes with smiling in training.
    const items = Int32Array.from(data.testGroups.ids, (g) => (g % 2 === 0 ? 1 : 0));
    return spuriousMetricsOfGroups(
      { strength: data.spec.fraction, classNames: data.classNames, itemNames: ['blond hair', 'black hair'] },
      { labels: data.test.labels, items, predicted: testPredictions },
    );
  }
  return undefined;
}

/** The spurious metrics of a trained two-layer model on the balanced and reversed sets (and pMoE's routing on the balanced one). */
function patchSpuriousMetrics(model: PatchModel, data: LoadedData): SpuriousMetrics | undefined {
  if (!data.spurious) return undefined;
  const { balanced, reversed } = data.spurious;
  const predict = (set: PatchDataset) => ({ labels: set.labels, items: set.spurious!.values, predicted: predictClasses(model, set) });
  const routing =
    'routing' in model && balanced.spurious ? patchRoutingShares(model as RoutedPatchModel, { ...balanced, spurious: balanced.spurious }) : undefined;
  return spuriousMetrics(data.spurious, predict(balanced), predict(reversed), routing);
}

function resolvedModel(model: TwoLayerCnn | TwoLayerPmoe): RunModelOptions {
  const { patchCount: _n, patchDim: _d, classes: _classes, ...config } = model.config;
  return model instanceof TwoLayerPmoe ? { ...config, neurons: model.config.experts * model.config.neuronsPerExpert } : config;
}

/**
 * Makes the data, trains one model and returns its record: a two-layer run, or an image run
 * (`kind: 'image'`, the WRN or WRN-pMoE). `withModel` sees a trained two-layer model (and its data
 * and record) before the model is disposed, e.g. to save it.
 */
export async function runOnce(
  spec: PatchRunSpec,
  hooks?: TrainingHooks,
  withModel?: (model: PatchModel, data: LoadedData, record: PatchRunRecord) => Promise<void> | void,
): Promise<PatchRunRecord>;
export async function runOnce(spec: ImageRunSpec, hooks?: TrainingHooks): Promise<ImageRunRecord>;
export async function runOnce(spec: RunSpec, hooks?: TrainingHooks): Promise<RunRecord>;
export async function runOnce(
  spec: RunSpec,
  hooks: TrainingHooks = {},
  withModel?: (model: PatchModel, data: LoadedData, record: PatchRunRecord) => Promise<void> | void,
): Promise<RunRecord> {
  if ('kind' in spec) {
    if (isImageRunSpec(spec)) return runImageOnce(spec, hooks);
    throw new OptionError(`kind: must be 'image' for an image run, or absent for a two-layer run (got ${JSON.stringify((spec as { kind: unknown }).kind)})`);
  }
  const startedAt = new Date();
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  const data = await loadData(spec.data);
  const result = await trainModelAsync(spec.model ?? {}, data.train, data.test, training, hooks);
  try {
    const spurious = patchSpuriousMetrics(result.model, data);
    const record: PatchRunRecord = {
      data: data.spec,
      model: resolvedModel(result.model),
      // N_r as trained with: a routerSamples above N used the N samples there are.
      training: training.routerSamples === undefined ? training : { ...training, routerSamples: routerSampleCount(training, data.train.count) },
      backend: tf.getBackend(),
      lStar: data.lStar,
      epochs: result.epochs,
      routerLosses: result.routerPhase?.losses,
      routerRoutingRate: result.routerPhase?.routingRate,
      routerRateByPatchesPerExpert: result.routerPhase?.rateByPatchesPerExpert,
      routingRate: result.routingRate,
      utilisation: result.utilisation,
      finalTestAccuracy: result.epochs.at(-1)?.testAccuracy ?? NaN,
      ...(spurious ? { spurious } : {}),
      wallTimeMs: result.wallTimeMs,
      provenance: await provenance(startedAt),
    };
    await withModel?.(result.model, data, record);
    return record;
  } finally {
    result.model.dispose();
  }
}
