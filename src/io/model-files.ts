import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeFileAtomically } from '../util/atomic-write.js';

const TOPOLOGY_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';

/**
 * Saves a tfjs Layers model as `model.json` + `weights.bin` in `dir` (TensorFlow.js's own format,
 * so tf.loadLayersModel reads it in a browser too). Each file is written atomically (temporary
 * file, then rename); the weights go first, so a model.json always names weights already complete.
 */
export async function saveModelFiles(model: tfl.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
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
    }),
  );
}

async function readNamed(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String(error);
    throw new Error(`cannot read the model's ${what} ${path}: ${reason}`, { cause: error });
  }
}

/** Loads what `saveModelFiles` wrote; custom layers such as PatchMoE must be imported first (they register themselves). */
export async function loadModelFiles(dir: string): Promise<tfl.LayersModel> {
  const topologyPath = join(dir, TOPOLOGY_FILE);
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
  const buffers = await Promise.all(manifest.weightsManifest.flatMap((group) => group.paths).map((path) => readNamed(join(dir, path), 'weights')));
  const weightData = tf.io.concatenateArrayBuffers(buffers.map((b) => new Uint8Array(b).slice().buffer));
  const expected = weightSpecs.reduce(
    (bytes, spec) => bytes + spec.shape.reduce((a, b) => a * b, 1) * (spec.dtype === 'int32' || spec.dtype === 'float32' ? 4 : 1),
    0,
  );
  if (weightData.byteLength !== expected) {
    throw new Error(`${join(dir, WEIGHTS_FILE)} holds ${weightData.byteLength} bytes but model.json describes ${expected}: truncated or mismatched`);
  }
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: manifest.modelTopology, weightSpecs, weightData }));
}
