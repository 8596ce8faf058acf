import * as tf from '@tensorflow/tfjs-core';
import { makeSyntheticSplit, validateSyntheticConfig, type SyntheticConfig } from '../data/synthetic.js';
import type { ModelOptions } from '../models/build.js';
import type { RoutingRate } from '../analysis/routing-rate.js';
import { integer, parseOptions } from '../util/options.js';
import { z } from 'zod';
import { trainModel, trainingSchema, type EpochMetrics, type TrainingHooks, type TrainingOptions } from './train.js';

/** Where a run's samples come from: the paper's synthetic data model, N training and some test samples. */
export type SyntheticDataSpec = { source: 'synthetic'; trainSize: number; testSize?: number } & Partial<SyntheticConfig>;

/** Model options a run may set; the data fix n, d and the classes. */
export type RunModelOptions = Omit<ModelOptions, 'kind' | 'patchCount' | 'patchDim' | 'classes'>;

export interface RunSpec {
  readonly data: SyntheticDataSpec;
  readonly model?: RunModelOptions;
  readonly training?: TrainingOptions;
}

/** One finished run, ready to be written as a JSON line. */
export interface RunRecord {
  readonly data: SyntheticDataSpec & SyntheticConfig;
  readonly model: RunModelOptions;
  readonly training: z.output<typeof trainingSchema>;
  readonly backend: string;
  /** l* of the data actually drawn (train and test). */
  readonly lStar: number;
  readonly epochs: readonly EpochMetrics[];
  readonly routerLosses?: readonly number[];
  readonly routerRoutingRate?: RoutingRate;
  /** Separate training: entry l - 1 is the router's test routing rate at l patches per expert. */
  readonly routerRateByPatchesPerExpert?: readonly number[];
  readonly routingRate?: RoutingRate;
  readonly finalTestAccuracy: number;
  readonly wallTimeMs: number;
}

const sizesSchema = z.object({ trainSize: integer(1), testSize: integer(1).default(1000) });

/** Makes the data, trains one model and returns its record; the model is disposed. */
export function runOnce(spec: RunSpec, hooks: TrainingHooks = {}): RunRecord {
  const { source, trainSize, testSize, ...dataOptions } = spec.data;
  if (source !== 'synthetic') throw new RangeError(`data.source must be 'synthetic'; got '${String(source)}'`);
  const sizes = parseOptions(sizesSchema, { trainSize, testSize }, 'data');
  const dataConfig = validateSyntheticConfig(dataOptions);
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  const { train, test, lStar } = makeSyntheticSplit(dataConfig, sizes.trainSize, sizes.testSize);
  const result = trainModel(spec.model ?? {}, train, test, training, hooks);
  result.model.dispose();
  return {
    data: { source, ...sizes, ...dataConfig },
    model: spec.model ?? {},
    training,
    backend: tf.getBackend(),
    lStar,
    epochs: result.epochs,
    routerLosses: result.routerPhase?.losses,
    routerRoutingRate: result.routerPhase?.routingRate,
    routerRateByPatchesPerExpert: result.routerPhase?.rateByPatchesPerExpert,
    routingRate: result.routingRate,
    finalTestAccuracy: result.epochs.at(-1)?.testAccuracy ?? NaN,
    wallTimeMs: result.wallTimeMs,
  };
}
