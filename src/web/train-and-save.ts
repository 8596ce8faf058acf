/**
 * `pmoe train --save-model <dir>`: one run as `runOnce` makes it, but the trained TwoLayerPmoe is
 * written to `<dir>/pmoe-model.json` before it is disposed, with the data spec it was trained on
 * (so the report and the web page can rebuild its test images) and its final metrics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadData } from '../data/source.js';
import { saveTwoLayerPmoe } from '../models/pmoe-model-io.js';
import type { ModelDataSpec } from '../models/pmoe-model-file.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import type { RunRecord, RunSpec } from '../training/run.js';
import { trainModel, trainingSchema, type TrainingHooks } from '../training/train.js';
import { OptionError, parseOptions } from '../util/options.js';

/** Refuses a run whose model cannot be saved, before any training. */
export function checkSavable(spec: RunSpec): void {
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  if (training.model === 'cnn') {
    throw new OptionError(`--save-model saves a pMoE (--model joint or separate); the cnn has no routing to save`);
  }
}

/** Trains one model, saves it to `dir`, and returns the run record and the model file's path. */
export async function runOnceAndSave(spec: RunSpec, dir: string, hooks: TrainingHooks = {}): Promise<{ record: RunRecord; modelPath: string }> {
  checkSavable(spec);
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  const data = await loadData(spec.data);
  const result = trainModel(spec.model ?? {}, data.train, data.test, training, hooks);
  try {
    const last = result.epochs.at(-1);
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
      finalTestAccuracy: last?.testAccuracy ?? NaN,
      wallTimeMs: result.wallTimeMs,
    };
    if (!(result.model instanceof TwoLayerPmoe)) throw new OptionError('--save-model saves a pMoE model only');
    const metrics = {
      ...(last ? { testAccuracy: last.testAccuracy, trainAccuracy: last.trainAccuracy } : {}),
      ...(result.routingRate && Number.isFinite(result.routingRate.rate) ? { routingRate: result.routingRate.rate } : {}),
    };
    const modelPath = await saveTwoLayerPmoe(result.model, dir, {
      data: data.spec as unknown as ModelDataSpec,
      training,
      metrics,
      savedAt: new Date().toISOString(),
    });
    return { record, modelPath };
  } finally {
    result.model.dispose();
  }
}
