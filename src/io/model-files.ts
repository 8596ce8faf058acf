import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeFileAtomically } from '../util/atomic-write.js';

const TOPOLOGY_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';
const FILE_SCHEME = 'file://';

/**
 * A tfjs save handler that writes `model.json` + `weights.bin` into the folder `dir` (TensorFlow.js's
 * own format, as tfjs-node writes it, so tf.loadLayersModel reads it in a browser too). Each file is
 * written atomically (temporary file, then rename); the weights go first, so a model.json always
 * names weights already complete.
 */
export function fileSaveHandler(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
    const weightData = artifacts.weightData
      ? tf.io.concatenateArrayBuffers(Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData])
      : new ArrayBuffer(0);
    await writeFileAtomically(join(dir, WEIGHTS_FILE), Buffer.from(weightData));
    const manifest = {
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: 'pmoe',
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
    };
    await writeFileAtomically(join(dir, TOPOLOGY_FILE), JSON.stringify(manifest));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  });
}

async function readNamed(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String(error);
    throw new Error(`cannot read the model's ${what} ${path}: ${reason}`, { cause: error });
  }
}

/**
 * A tfjs load handler for a Layers model's `model.json` at `path` (or in the folder `path`) and the
 * weight files it names beside it. A weights file shorter or longer than model.json describes is
 * refused, naming both sizes.
 */
export function fileLoadHandler(path: string): tf.io.IOHandler {
  return {
    async load() {
      const topologyPath = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, TOPOLOGY_FILE) : path;
      let manifest: {
        modelTopology?: object;
        weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
      };
      try {
        manifest = JSON.parse((await readNamed(topologyPath, 'topology')).toString('utf8'));
      } catch (error) {
        if (error instanceof SyntaxError) throw new Error(`${topologyPath} is not valid JSON: ${error.message}`, { cause: error });
        throw error;
      }
      if (!manifest.modelTopology || !Array.isArray(manifest.weightsManifest)) {
        throw new Error(`${topologyPath} lacks modelTopology or weightsManifest: not a TensorFlow.js layers model`);
      }
      const weightSpecs = manifest.weightsManifest.flatMap((group) => group.weights);
      const weightPaths = manifest.weightsManifest.flatMap((group) => group.paths).map((file) => join(dirname(topologyPath), file));
      const buffers = await Promise.all(weightPaths.map((file) => readNamed(file, 'weights')));
      const weightData = tf.io.concatenateArrayBuffers(buffers.map((b) => new Uint8Array(b).slice().buffer));
      const expected = weightSpecs.reduce(
        (bytes, spec) => bytes + spec.shape.reduce((a, b) => a * b, 1) * (spec.dtype === 'int32' || spec.dtype === 'float32' ? 4 : 1),
        0,
      );
      if (weightData.byteLength !== expected) {
        throw new Error(
          `the weights in ${weightPaths.join(', ')} are ${weightData.byteLength} bytes but ${topologyPath} describes ${expected}: truncated or mismatched`,
        );
      }
      return { modelTopology: manifest.modelTopology, weightSpecs, weightData };
    },
  };
}

/** The path of a `file://` URL: `file:///abs/dir` is /abs/dir, `file://models/x` is models/x (relative to the working folder), as in tfjs-node. */
function fileUrlPath(url: string | string[]): string | null {
  return typeof url === 'string' && url.startsWith(FILE_SCHEME) ? url.slice(FILE_SCHEME.length) : null;
}

/** A router that answers `file://` URLs; tfjs's routers return null for URLs they do not take, which its IORouter type leaves out. */
function fileRouter(handler: (path: string) => tf.io.IOHandler): (url: string | string[]) => tf.io.IOHandler {
  return (url) => {
    const path = fileUrlPath(url);
    return (path === null ? null : handler(path)) as tf.io.IOHandler;
  };
}

let registered = false;

/**
 * Registers `file://` save and load handlers with TensorFlow.js (what tfjs-node does), so that
 * `model.save('file://dir')` writes dir/model.json and dir/weights.bin and
 * `tf.loadLayersModel('file://dir/model.json')` reads them. Skipped where handlers for `file://`
 * exist already (tfjs-node's). initEngine calls it in Node. Idempotent.
 */
export function registerFileHandlers(): void {
  if (registered) return;
  registered = true;
  if (tf.io.getSaveHandlers('file://probe').length === 0) {
    tf.io.registerSaveRouter(fileRouter(fileSaveHandler));
  }
  if (tf.io.getLoadHandlers('file://probe').length === 0) {
    tf.io.registerLoadRouter(fileRouter(fileLoadHandler));
  }
}

/** Saves a tfjs Layers model as `model.json` + `weights.bin` in `dir` (see fileSaveHandler). */
export async function saveModelFiles(model: tfl.LayersModel, dir: string): Promise<void> {
  await model.save(fileSaveHandler(dir));
}

/** Loads what `saveModelFiles` wrote; custom layers such as PatchMoE must be imported first (they register themselves). */
export async function loadModelFiles(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(fileLoadHandler(join(dir, TOPOLOGY_FILE)));
}
