/** Saving and loading a TwoLayerPmoe model file on disk (Node); the format is in pmoe-model-file.ts. */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../util/atomic-write.js';
import {
  deserializeTwoLayerPmoe,
  parsePmoeModelFile,
  PMOE_MODEL_FILE,
  serializeTwoLayerPmoe,
  type PmoeModelExtras,
  type PmoeModelFile,
} from './pmoe-model-file.js';
import type { TwoLayerPmoe } from './two-layer-pmoe.js';

/**
 * Writes `<dir>/pmoe-model.json` atomically (a temporary file, then a rename), so a reader never
 * sees half a model. Returns the file's path.
 */
export async function saveTwoLayerPmoe(model: TwoLayerPmoe, dir: string, extras: PmoeModelExtras = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, PMOE_MODEL_FILE);
  await writeFileAtomically(path, `${JSON.stringify(serializeTwoLayerPmoe(model, extras))}\n`);
  return path;
}

/** The model file a path names: the path itself when it is a file, else `<path>/pmoe-model.json`. */
export async function modelFilePath(path: string): Promise<string> {
  try {
    return (await stat(path)).isDirectory() ? join(path, PMOE_MODEL_FILE) : path;
  } catch {
    throw new Error(`model ${path} does not exist (give the folder written by pmoe train --save-model, or its ${PMOE_MODEL_FILE})`);
  }
}

/** Reads and validates a model file (a folder or the file itself) without building the model. */
export async function readPmoeModelFile(path: string): Promise<{ path: string; file: PmoeModelFile }> {
  const filePath = await modelFilePath(path);
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String(error);
    throw new Error(`cannot read the model file ${filePath}: ${reason}`);
  }
  return { path: filePath, file: parsePmoeModelFile(text, filePath) };
}

/** Loads a saved model; the caller owns and disposes it. */
export async function loadTwoLayerPmoe(path: string): Promise<{ model: TwoLayerPmoe; file: PmoeModelFile; path: string }> {
  const { path: filePath, file } = await readPmoeModelFile(path);
  return { model: deserializeTwoLayerPmoe(file, filePath), file, path: filePath };
}
