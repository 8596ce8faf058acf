import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadTwoLayerModel, saveTwoLayerModel } from '../models/pmoe-model-io.js';
import { PMOE_MODEL_FILE, type PmoeModelExtras } from '../models/pmoe-model-file.js';
import { TwoLayerCnn } from '../models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { loadModelFiles, saveModelFiles } from './model-files.js';

/** What saveModel saves: a tfjs Layers model (PatchMoE, Wide-ResNet, WRN-pMoE or any other) or one of the paper's two-layer models. */
export type SavableModel = tfl.LayersModel | TwoLayerPmoe | TwoLayerCnn;

/**
 * Saves a trained model in `dir`: a Layers model as TensorFlow.js writes one (`model.json` and
 * `weights.bin`, which tf.loadLayersModel reads too), a TwoLayerPmoe or TwoLayerCnn as
 * `pmoe-model.json` (which model, its config, weights and the optional `extras`). Files are
 * written atomically. Returns the main file's path.
 */
export async function saveModel(model: SavableModel, dir: string, extras: PmoeModelExtras = {}): Promise<string> {
  if (model instanceof TwoLayerPmoe || model instanceof TwoLayerCnn) return saveTwoLayerModel(model, dir, extras);
  if (typeof (model as { save?: unknown }).save !== 'function') {
    throw new TypeError(`saveModel: expected a tfjs LayersModel, a TwoLayerPmoe or a TwoLayerCnn; got ${(model as object)?.constructor?.name ?? typeof model}`);
  }
  await saveModelFiles(model, dir);
  return join(dir, 'model.json');
}

/** Loads what saveModel wrote in `dir` (any kind, told apart by the file there); the caller disposes the model. */
export async function loadModel(dir: string): Promise<SavableModel> {
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );
  if (await exists(join(dir, PMOE_MODEL_FILE))) return (await loadTwoLayerModel(dir)).model;
  if (await exists(join(dir, 'model.json'))) return loadModelFiles(dir);
  throw new Error(`no saved model in ${dir}: expected ${PMOE_MODEL_FILE} (a two-layer pMoE or cnn) or model.json (a Layers model)`);
}
