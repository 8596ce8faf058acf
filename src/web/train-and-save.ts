/**
 * `pmoe train --save-model <dir>`: one run as `runOnce` makes it, but the trained two-layer model
 * (pMoE or cnn) is written to `<dir>/pmoe-model.json` before it is disposed, with the data spec it
 * was trained on (so the report and the web page can rebuild its test images) and its final metrics.
 */
import { saveTwoLayerModel } from '../models/pmoe-model-io.js';
import type { ModelDataSpec } from '../models/pmoe-model-file.js';
import { TwoLayerCnn } from '../models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { runOnce, type PatchRunRecord, type PatchRunSpec } from '../training/run.js';
import type { TrainingHooks } from '../training/train.js';

/** Trains one model, saves it to `dir`, and returns the run record and the model file's path. */
export async function runOnceAndSave(spec: PatchRunSpec, dir: string, hooks: TrainingHooks = {}): Promise<{ record: PatchRunRecord; modelPath: string }> {
  let modelPath = '';
  const record = await runOnce(spec, hooks, async (model, data, done) => {
    if (!(model instanceof TwoLayerPmoe || model instanceof TwoLayerCnn))
      throw new Error(`--save-model saves a two-layer model; got ${model.constructor.name}`);
    const last = done.epochs.at(-1);
    const metrics = {
      ...(last ? { testAccuracy: last.testAccuracy, trainAccuracy: last.trainAccuracy } : {}),
      ...(done.routingRate && Number.isFinite(done.routingRate.rate) ? { routingRate: done.routingRate.rate } : {}),
    };
    modelPath = await saveTwoLayerModel(model, dir, {
      data: data.spec as unknown as ModelDataSpec,
      training: done.training,
      metrics,
      savedAt: new Date().toISOString(),
    });
  });
  return { record, modelPath };
}
