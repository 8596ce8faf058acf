/**
 * A trained TwoLayerPmoe as one JSON document, readable in Node and in a browser alike: this module
 * uses no Node API (no fs, no Buffer), so the web page's bundle imports it unchanged.
 *
 * Format `pmoe-two-layer`, version 1:
 * {
 *   "format": "pmoe-two-layer", "version": 1,
 *   "config": { ...TwoLayerPmoeConfig },          // the model's options, defaults filled in
 *   "weights": {                                  // each tensor: shape, dtype, little-endian bytes as base64
 *     "routers": { "shape": [d, k], "dtype": "float32", "base64": "..." },
 *     "experts": { "shape": [k, d, m/k], ... },
 *     "output":  { "shape": [k * m/k, logits], ... }
 *   },
 *   "data": { "source": "mnist-patch", ... },      // optional: the data spec the model was trained on
 *   "training": { ... }, "metrics": { ... },       // optional: how it was trained, what it scored
 *   "savedAt": "2025-01-01T00:00:00.000Z"          // optional
 * }
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { logitCount } from './output-weights.js';
import { TwoLayerPmoe, twoLayerPmoeSchema, type TwoLayerPmoeConfig } from './two-layer-pmoe.js';

export const PMOE_MODEL_FORMAT = 'pmoe-two-layer';
export const PMOE_MODEL_VERSION = 1;
/** The file name a saved model has inside its folder. */
export const PMOE_MODEL_FILE = 'pmoe-model.json';

/** One tensor: float32 values, little-endian, as base64. */
export interface EncodedTensor {
  readonly shape: readonly number[];
  readonly dtype: 'float32';
  readonly base64: string;
}

/** What the model was trained and tested on, as the run record resolves it (data.source first). */
export type ModelDataSpec = { readonly source: string } & Readonly<Record<string, unknown>>;

export interface ModelMetrics {
  readonly testAccuracy?: number;
  readonly trainAccuracy?: number;
  readonly routingRate?: number;
}

export interface PmoeModelFile {
  readonly format: typeof PMOE_MODEL_FORMAT;
  readonly version: typeof PMOE_MODEL_VERSION;
  readonly config: TwoLayerPmoeConfig;
  readonly weights: { readonly routers: EncodedTensor; readonly experts: EncodedTensor; readonly output: EncodedTensor };
  readonly data?: ModelDataSpec;
  readonly training?: Readonly<Record<string, unknown>>;
  readonly metrics?: ModelMetrics;
  readonly savedAt?: string;
}

/** Everything but the config and weights: what a caller may attach when saving. */
export type PmoeModelExtras = Pick<PmoeModelFile, 'data' | 'training' | 'metrics' | 'savedAt'>;

/** A file that is not a pmoe model, or a broken one; the message says which part and why. */
export class PmoeModelFileError extends Error {
  override name = 'PmoeModelFileError';
}

// ---------------------------------------------------------------------------------------------
// base64 of little-endian float32, with the platform's btoa/atob (browsers and Node >= 16 have both)

const CHUNK = 0x8000;

export function float32ToBase64(values: Float32Array): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

// Standard base64 with its padding, as btoa writes it: atob alone would also take spaces and a
// missing padding, so a truncated or edited string could still decode to something.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function base64ToFloat32(base64: string, what = 'tensor'): Float32Array {
  if (!BASE64.test(base64))
    throw new PmoeModelFileError(`${what}: base64 is not valid base64 (letters, digits, + and /, padded with = to a multiple of 4 characters)`);
  const binary = atob(base64);
  if (binary.length % 4 !== 0) throw new PmoeModelFileError(`${what}: ${binary.length} bytes is not a whole number of float32 values`);
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const values = new Float32Array(binary.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

function encodeTensor(tensor: tf.Tensor): EncodedTensor {
  if (tensor.dtype !== 'float32') throw new PmoeModelFileError(`only float32 weights are saved; got ${tensor.dtype}`);
  return { shape: [...tensor.shape], dtype: 'float32', base64: float32ToBase64(tensor.dataSync() as Float32Array) };
}

// ---------------------------------------------------------------------------------------------
// Validation

const encodedTensorSchema = z.strictObject({
  shape: z.array(z.number().int().min(1)),
  dtype: z.literal('float32'),
  base64: z.string(),
});

const modelFileSchema = z.object({
  format: z.literal(PMOE_MODEL_FORMAT, { error: `must be '${PMOE_MODEL_FORMAT}' (not a pmoe model file)` }),
  version: z.literal(PMOE_MODEL_VERSION, { error: `must be ${PMOE_MODEL_VERSION} (this pmoe reads version ${PMOE_MODEL_VERSION} only)` }),
  config: z.record(z.string(), z.unknown()),
  weights: z.strictObject({ routers: encodedTensorSchema, experts: encodedTensorSchema, output: encodedTensorSchema }),
  data: z.looseObject({ source: z.string() }).optional(),
  training: z.record(z.string(), z.unknown()).optional(),
  metrics: z.looseObject({ testAccuracy: z.number().optional(), trainAccuracy: z.number().optional(), routingRate: z.number().optional() }).optional(),
  savedAt: z.string().optional(),
});

/** Checks a parsed JSON value, every weight decoded (base64, count, finite values); throws a PmoeModelFileError naming each bad field. */
export function validatePmoeModelFile(value: unknown, where = 'model file'): PmoeModelFile {
  const parsed = modelFileSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`);
    throw new PmoeModelFileError(`${where} is not a pmoe model: ${issues.join('; ')}`);
  }
  const config = twoLayerPmoeSchema.safeParse(parsed.data.config);
  if (!config.success) {
    const issues = config.error.issues.map((issue) => `config.${issue.path.map(String).join('.')}: ${issue.message}`);
    throw new PmoeModelFileError(`${where} has an invalid config: ${issues.join('; ')}`);
  }
  const file = { ...parsed.data, config: config.data } as PmoeModelFile;
  const { patchDim: d, experts: k, neuronsPerExpert, classes } = file.config;
  const expected = { routers: [d, k], experts: [k, d, neuronsPerExpert], output: [k * neuronsPerExpert, logitCount(classes)] };
  for (const name of ['routers', 'experts', 'output'] as const) {
    const shape = file.weights[name].shape;
    if (shape.length !== expected[name].length || shape.some((v, i) => v !== expected[name][i])) {
      throw new PmoeModelFileError(`${where}: weights.${name} has shape [${shape.join(', ')}] but the config asks for [${expected[name].join(', ')}]`);
    }
    decodeWeights(file.weights[name], name, where);
  }
  return file;
}

/** A tensor's values, checked: valid base64, exactly one value per entry of its shape, every value finite. */
function decodeWeights(encoded: EncodedTensor, name: string, where: string): Float32Array {
  const what = `${where}: weights.${name}`;
  const values = base64ToFloat32(encoded.base64, what);
  const size = encoded.shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new PmoeModelFileError(`${what}: ${values.length} values for shape [${encoded.shape.join(', ')}] (${size}): truncated or mismatched`);
  }
  const bad = values.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw new PmoeModelFileError(`${what}: value ${bad} is ${values[bad]}; a model's weights must be finite numbers`);
  return values;
}

/** Parses the text of a model file (JSON) and validates it. */
export function parsePmoeModelFile(text: string, where = 'model file'): PmoeModelFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PmoeModelFileError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
  return validatePmoeModelFile(value, where);
}

// ---------------------------------------------------------------------------------------------
// Model <-> file

/** The model's config and current weights (and any extras) as a model file object. */
export function serializeTwoLayerPmoe(model: TwoLayerPmoe, extras: PmoeModelExtras = {}): PmoeModelFile {
  return {
    format: PMOE_MODEL_FORMAT,
    version: PMOE_MODEL_VERSION,
    config: model.config,
    weights: { routers: encodeTensor(model.routers), experts: encodeTensor(model.experts), output: encodeTensor(model.output) },
    ...extras,
  };
}

/**
 * Builds the model a file describes, with the file's weights (a validated file object or any
 * parsed JSON value, which is validated first). The caller owns and disposes the model.
 */
export function deserializeTwoLayerPmoe(value: PmoeModelFile | unknown, where = 'model file'): TwoLayerPmoe {
  const file = validatePmoeModelFile(value, where);
  const tensor = (name: 'routers' | 'experts' | 'output') =>
    tf.tensor(decodeWeights(file.weights[name], name, where), [...file.weights[name].shape], 'float32');
  const tensors = { routers: tensor('routers'), experts: tensor('experts'), output: tensor('output') };
  const model = new TwoLayerPmoe(file.config);
  model.routers.assign(tensors.routers as tf.Tensor2D);
  model.experts.assign(tensors.experts as tf.Tensor3D);
  // `output` is fixed, not a variable: the freshly drawn one is replaced by the saved one.
  model.output.dispose();
  (model as { output: tf.Tensor2D }).output = tensors.output as tf.Tensor2D;
  tensors.routers.dispose();
  tensors.experts.dispose();
  return model;
}
