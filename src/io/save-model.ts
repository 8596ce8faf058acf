import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadTwoLayerPmoe, saveTwoLayerPmoe } from '../models/pmoe-model-io.js';
import { PMOE_MODEL_FILE, type PmoeModelExtras } from '../models/pmoe-model-file.js';
import { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { loadModelFiles, saveModelFiles } from './model-files.js';

/** What saveModel saves: a tfjs Layers model (PatchMoE, Wide-ResNet, WRN-pMoE or any other) or the paper's two-layer pMoE. */
export type SavableModel = tfl.LayersModel | TwoLayerPmoe;

/**
 * Saves a trained model in `dir`: a Layers model as TensorFlow.js writes one (`model.json` and
 * `weights.bin`, which tf.loadLayersModel reads too), a TwoLayerPmoe as `pmoe-model.json` (its
 * config, weights and the optional `extras`). Files are written atomically. Returns the main file's path.
 */
export async function saveModel(model: SavableModel, dir: string, extras: PmoeModelExtras = {}): Promise<string> {
  if (model instanceof TwoLayerPmoe) return saveTwoLayerPmoe(model, dir, extras);
  if (typeof (model as { save?: unknown }).save !== 'function') {
    throw new TypeError(`saveModel: expected a tfjs LayersModel or a TwoLayerPmoe; got ${(model as object)?.constructor?.name ?? typeof model}`);
  }
  await saveModelFiles(model, dir);
  return join(dir, 'model.json');
}

/** Loads what saveModel wrote in `dir` (either kind, told apart by the file there); the caller disposes the model. */
export async function loadModel(dir: string): Promise<SavableModel> {
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );
  if (await exists(join(dir, PMOE_MODEL_FILE))) return (await loadTwoLayerPmoe(dir)).model;
  if (await exists(join(dir, 'model.json'))) return loadModelFiles(dir);
  throw new Error(`no saved model in ${dir}: expected ${PMOE_MODEL_FILE} (a two-layer pMoE) or model.json (a Layers model)`);
}
