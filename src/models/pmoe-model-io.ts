/** Saving and loading a two-layer model file on disk (Node); the format is in pmoe-model-file.ts. */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DataFileError } from '../data/data-file-error.js';
import { readDataFile } from '../data/read-data-file.js';
import { writeFileAtomically } from '../util/atomic-write.js';
import { OutputFileError, replaceableFileProblem } from '../util/output-file.js';
import {
  deserializeTwoLayerModel,
  parseTwoLayerModelFile,
  PMOE_MODEL_FILE,
  PMOE_MODEL_MARK,
  requirePmoe,
  serializeTwoLayerModel,
  type PmoeModelExtras,
  type PmoeModelFile,
  type TwoLayerModel,
  type TwoLayerModelFile,
} from './pmoe-model-file.js';

/**
 * Writes a TwoLayerPmoe or TwoLayerCnn to `<dir>/pmoe-model.json` atomically (a temporary file,
 * then a rename), so a reader never sees half a model. Returns the file's path.
 */
export async function saveTwoLayerModel(model: TwoLayerModel, dir: string, extras: PmoeModelExtras = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, PMOE_MODEL_FILE);
  // Replaces only a model saved before (or an empty file): never a file a planted link points to.
  const problem = replaceableFileProblem(path, PMOE_MODEL_MARK, 'pmoe (a saved model)');
  if (problem) throw new OutputFileError(path, problem);
  await writeFileAtomically(path, `${JSON.stringify(serializeTwoLayerModel(model, extras))}\n`);
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

// Far above any two-layer model pmoe trains (the page's model is about 100 kB); a larger file is not one of ours.
const MAX_MODEL_BYTES = 256 * 1024 * 1024;

/** A model file read from disk and validated whole: `text` is exactly what was validated. */
export interface ReadModelFile<File extends TwoLayerModelFile = TwoLayerModelFile> {
  readonly path: string;
  readonly file: File;
  readonly text: string;
}

/** Reads and validates a model file (a folder or the file itself) without building the model. */
export async function readTwoLayerModelFile(path: string): Promise<ReadModelFile> {
  const filePath = await modelFilePath(path);
  let text: string;
  try {
    text = (await readDataFile(filePath, 'model file', { maxBytes: MAX_MODEL_BYTES })).toString('utf8');
  } catch (error) {
    throw new Error(error instanceof DataFileError ? `cannot read the model file ${filePath}: ${error.problem}` : String(error), { cause: error });
  }
  return { path: filePath, file: parseTwoLayerModelFile(text, filePath), text };
}

/** As readTwoLayerModelFile, for what needs a pMoE's routing (the web page, the report's pictures): a cnn is refused. */
export async function readPmoeModelFile(path: string): Promise<ReadModelFile<PmoeModelFile>> {
  const read = await readTwoLayerModelFile(path);
  return { ...read, file: requirePmoe(read.file, read.path) };
}

/** Loads a saved two-layer model (a TwoLayerPmoe or TwoLayerCnn, as `file.model` says); the caller owns and disposes it. */
export async function loadTwoLayerModel(path: string): Promise<{ model: TwoLayerModel; file: TwoLayerModelFile; path: string }> {
  const { path: filePath, file } = await readTwoLayerModelFile(path);
  return { model: deserializeTwoLayerModel(file, filePath), file, path: filePath };
}
