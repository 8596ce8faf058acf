/**
 * `pmoe train --save-model <dir>`: one run as `runOnce` makes it, but the trained TwoLayerPmoe is
 * written to `<dir>/pmoe-model.json` before it is disposed, with the data spec it was trained on
 * (so the report and the web page can rebuild its test images) and its final metrics.
 */
import { saveTwoLayerPmoe } from '../models/pmoe-model-io.js';
import type { ModelDataSpec } from '../models/pmoe-model-file.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { runOnce, type PatchRunRecord, type PatchRunSpec } from '../training/run.js';
import { trainingSchema, type TrainingHooks } from '../training/train.js';
import { OptionError, parseOptions } from '../util/options.js';

/** Refuses a run whose model cannot be saved, before any training. */
export function checkSavable(spec: PatchRunSpec): void {
  const training = parseOptions(trainingSchema, spec.training ?? {}, 'training');
  if (training.model === 'cnn') {
    throw new OptionError(`--save-model saves a pMoE (--model joint or separate); the cnn has no routing to save`);
  }
}

/** Trains one model, saves it to `dir`, and returns the run record and the model file's path. */
export async function runOnceAndSave(spec: PatchRunSpec, dir: string, hooks: TrainingHooks = {}): Promise<{ record: PatchRunRecord; modelPath: string }> {
  checkSavable(spec);
  let modelPath = '';
  const record = await runOnce(spec, hooks, async (model, data, done) => {
    if (!(model instanceof TwoLayerPmoe)) throw new OptionError('--save-model saves a pMoE model only');
    const last = done.epochs.at(-1);
    const metrics = {
      ...(last ? { testAccuracy: last.testAccuracy, trainAccuracy: last.trainAccuracy } : {}),
      ...(done.routingRate && Number.isFinite(done.routingRate.rate) ? { routingRate: done.routingRate.rate } : {}),
    };
    modelPath = await saveTwoLayerPmoe(model, dir, {
      data: data.spec as unknown as ModelDataSpec,
      training: done.training,
      metrics,
      savedAt: new Date().toISOString(),
    });
  });
  return { record, modelPath };
}
