import * as tf from '@tensorflow/tfjs-core';
import { loadData, type DataSpec, type LoadedData, type ResolvedDataSpec } from '../data/source.js';
import type { PatchModel } from '../models/patch-model.js';
import type { ModelOptions } from '../models/build.js';
import type { RoutingRate } from '../analysis/routing-rate.js';
import { parseOptions } from '../util/options.js';
import type { z } from 'zod';
import { trainModel, trainingSchema, type EpochMetrics, type TrainingHooks, type TrainingOptions } from './train.js';

/** Model options a run may set; the data fix n, d and the classes. */
export type RunModelOptions = Omit<ModelOptions, 'kind' | 'patchCount' | 'patchDim' | 'classes'>;

export interface RunSpec {
  readonly data: DataSpec;
  readonly model?: RunModelOptions;
  readonly training?: TrainingOptions;
}

/** One finished run, ready to be written as a JSON line. */
export interface RunRecord {
  readonly data: ResolvedDataSpec;
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
  readonly finalTestAccuracy: number;
  readonly wallTimeMs: number;
}

/**
 * Makes the data, trains one model and returns its record. `withModel` sees the trained model
 * (and its data and record) before the model is disposed, e.g. to save it.
 */
export async function runOnce(
  spec: RunSpec,
  hooks: TrainingHooks = {},
  withModel?: (model: PatchModel, data: LoadedData, record: RunRecord) => Promise<void> | void,
): Promise<RunRecord> {
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  const data = await loadData(spec.data);
  const result = trainModel(spec.model ?? {}, data.train, data.test, training, hooks);
  try {
    const record: RunRecord = {
      data: data.spec,
      model: spec.model ?? {},
      training,
      backend: tf.getBackend(),
      lStar: data.lStar,
      epochs: result.epochs,
      routerLosses: result.routerPhase?.losses,
      routerRoutingRate: result.routerPhase?.routingRate,
      routerRateByPatchesPerExpert: result.routerPhase?.rateByPatchesPerExpert,
      routingRate: result.routingRate,
      finalTestAccuracy: result.epochs.at(-1)?.testAccuracy ?? NaN,
      wallTimeMs: result.wallTimeMs,
    };
    await withModel?.(result.model, data, record);
    return record;
  } finally {
    result.model.dispose();
  }
}
