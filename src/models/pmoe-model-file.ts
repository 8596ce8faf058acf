/**
 * A trained two-layer model (the paper's pMoE or CNN) as one JSON document, readable in Node and
 * in a browser alike: this module uses no Node API (no fs, no Buffer), so the web page's bundle
 * imports it unchanged.
 *
 * Format `pmoe-two-layer`, version 2:
 * {
 *   "format": "pmoe-two-layer", "version": 2,
 *   "model": "pmoe",                              // or "cnn"
 *   "config": { ...TwoLayerPmoeConfig },          // the model's options, defaults filled in (TwoLayerCnnConfig for a cnn)
 *   "weights": {                                  // each tensor: shape, dtype, little-endian bytes as base64
 *     "routers": { "shape": [d, k], "dtype": "float32", "base64": "..." },
 *     "experts": { "shape": [k, d, m/k], ... },
 *     "output":  { "shape": [k * m/k, logits], ... }
 *   },                                            // a cnn: "hidden" [d, m] and "output" [m, logits]
 *   "data": { "source": "mnist-patch", ... },      // optional: the data spec the model was trained on
 *   "training": { ... }, "metrics": { ... },       // optional: how it was trained, what it scored
 *   "savedAt": "2025-01-01T00:00:00.000Z"          // optional
 * }
 * Version 1 is the same without `model`: every version 1 file is a pMoE, and still loads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { logitCount } from './output-weights.js';
import { TwoLayerCnn, twoLayerCnnSchema, type TwoLayerCnnConfig } from './two-layer-cnn.js';
import { TwoLayerPmoe, twoLayerPmoeSchema, type TwoLayerPmoeConfig } from './two-layer-pmoe.js';

export const PMOE_MODEL_FORMAT = 'pmoe-two-layer';
/** The version written; version 1 (a pMoE, without `model`) is read too. */
export const PMOE_MODEL_VERSION = 2;
/** The file name a saved model has inside its folder. */
export const PMOE_MODEL_FILE = 'pmoe-model.json';
/** How every saved model begins: an existing pmoe-model.json without it is not replaced. */
export const PMOE_MODEL_MARK = `{"format":"${PMOE_MODEL_FORMAT}"`;

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

interface ModelFileFields {
  readonly format: typeof PMOE_MODEL_FORMAT;
  /** As read: 1 for a file saved before the cnn could be, else 2. */
  readonly version: 1 | 2;
  readonly data?: ModelDataSpec;
  readonly training?: Readonly<Record<string, unknown>>;
  readonly metrics?: ModelMetrics;
  readonly savedAt?: string;
}

/** A saved TwoLayerPmoe. */
export interface PmoeModelFile extends ModelFileFields {
  readonly model: 'pmoe';
  readonly config: TwoLayerPmoeConfig;
  readonly weights: { readonly routers: EncodedTensor; readonly experts: EncodedTensor; readonly output: EncodedTensor };
}

/** A saved TwoLayerCnn. */
export interface CnnModelFile extends ModelFileFields {
  readonly model: 'cnn';
  readonly config: TwoLayerCnnConfig;
  readonly weights: { readonly hidden: EncodedTensor; readonly output: EncodedTensor };
}

export type TwoLayerModelFile = PmoeModelFile | CnnModelFile;
export type TwoLayerModel = TwoLayerPmoe | TwoLayerCnn;

/** Everything but the model, config and weights: what a caller may attach when saving. */
export type PmoeModelExtras = Pick<ModelFileFields, 'data' | 'training' | 'metrics' | 'savedAt'>;

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

const headerSchema = z.object({
  format: z.literal(PMOE_MODEL_FORMAT, { error: `must be '${PMOE_MODEL_FORMAT}' (not a pmoe model file)` }),
  version: z.union([z.literal(1), z.literal(2)], { error: 'must be 2, or 1 for a pMoE saved by an earlier pmoe (this pmoe reads versions 1 and 2)' }),
  model: z.enum(['pmoe', 'cnn'], { error: "must be 'pmoe' or 'cnn'" }).optional(),
});

function bodySchema<W extends z.ZodType>(weights: W) {
  return z.object({
    config: z.record(z.string(), z.unknown()),
    weights,
    data: z.looseObject({ source: z.string() }).optional(),
    training: z.record(z.string(), z.unknown()).optional(),
    metrics: z.looseObject({ testAccuracy: z.number().optional(), trainAccuracy: z.number().optional(), routingRate: z.number().optional() }).optional(),
    savedAt: z.string().optional(),
  });
}

/** Per model: the body, the config's schema, and the weights' shapes the config implies. */
const MODELS = {
  pmoe: {
    body: bodySchema(z.strictObject({ routers: encodedTensorSchema, experts: encodedTensorSchema, output: encodedTensorSchema })),
    config: twoLayerPmoeSchema,
    shapes: (config: TwoLayerPmoeConfig): Record<string, number[]> => {
      const { patchDim: d, experts: k, neuronsPerExpert } = config;
      return { routers: [d, k], experts: [k, d, neuronsPerExpert], output: [k * neuronsPerExpert, logitCount(config.classes)] };
    },
  },
  cnn: {
    body: bodySchema(z.strictObject({ hidden: encodedTensorSchema, output: encodedTensorSchema })),
    config: twoLayerCnnSchema,
    shapes: (config: TwoLayerCnnConfig): Record<string, number[]> => ({
      hidden: [config.patchDim, config.neurons],
      output: [config.neurons, logitCount(config.classes)],
    }),
  },
} as const;

function fail(where: string, what: string, issues: z.core.$ZodIssue[], prefix = ''): never {
  const listed = issues.map((issue) => `${prefix}${issue.path.map(String).join('.') || (prefix ? '' : '(top level)')}: ${issue.message}`);
  throw new PmoeModelFileError(`${where} ${what}: ${listed.join('; ')}`);
}

/**
 * Checks a parsed JSON value, every weight decoded (base64, count, finite values); throws a
 * PmoeModelFileError naming each bad field. A version 1 file comes back with `model: 'pmoe'`.
 */
export function validateTwoLayerModelFile(value: unknown, where = 'model file'): TwoLayerModelFile {
  const header = headerSchema.safeParse(value);
  if (!header.success) fail(where, 'is not a pmoe model', header.error.issues);
  const { version } = header.data;
  if (version === 2 && header.data.model === undefined) throw new PmoeModelFileError(`${where} is not a pmoe model: model: missing ('pmoe' or 'cnn')`);
  // A version 1 file read here comes back with model 'pmoe' filled in, and validates again.
  if (version === 1 && header.data.model === 'cnn') {
    throw new PmoeModelFileError(`${where} is not a pmoe model: model: version 1 files hold a pMoE only; a cnn is saved as version 2`);
  }
  const model = header.data.model ?? 'pmoe';
  const kind = MODELS[model];
  const body = kind.body.safeParse(value);
  if (!body.success) fail(where, `is not a pmoe model (model: '${model}')`, body.error.issues);
  const config = kind.config.safeParse(body.data.config);
  if (!config.success) fail(where, 'has an invalid config', config.error.issues, 'config.');
  const file = { ...body.data, format: PMOE_MODEL_FORMAT, version, model, config: config.data } as TwoLayerModelFile;
  const weights = file.weights as Record<string, EncodedTensor>;
  for (const [name, expected] of Object.entries((kind.shapes as (config: unknown) => Record<string, number[]>)(config.data))) {
    const shape = weights[name].shape;
    if (shape.length !== expected.length || shape.some((v, i) => v !== expected[i])) {
      throw new PmoeModelFileError(`${where}: weights.${name} has shape [${shape.join(', ')}] but the config asks for [${expected.join(', ')}]`);
    }
    decodeWeights(weights[name], name, where);
  }
  return file;
}

/** As validateTwoLayerModelFile, and the file must hold a pMoE (what routing pictures need). */
export function validatePmoeModelFile(value: unknown, where = 'model file'): PmoeModelFile {
  return requirePmoe(validateTwoLayerModelFile(value, where), where);
}

/** The file itself when it holds a pMoE; a cnn's file is refused, saying why. */
export function requirePmoe(file: TwoLayerModelFile, where: string): PmoeModelFile {
  if (file.model !== 'pmoe') {
    throw new PmoeModelFileError(`${where} holds a two-layer cnn, which has no routing; a pMoE is needed here (pmoe train --model joint or separate)`);
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
export function parseTwoLayerModelFile(text: string, where = 'model file'): TwoLayerModelFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PmoeModelFileError(`${where} is not valid JSON: ${(error as Error).message}`);
  }
  return validateTwoLayerModelFile(value, where);
}

/** As parseTwoLayerModelFile, and the file must hold a pMoE. */
export function parsePmoeModelFile(text: string, where = 'model file'): PmoeModelFile {
  return requirePmoe(parseTwoLayerModelFile(text, where), where);
}

// ---------------------------------------------------------------------------------------------
// Model <-> file

/** The model's config and current weights (and any extras) as a model file object. */
export function serializeTwoLayerModel(model: TwoLayerModel, extras: PmoeModelExtras = {}): TwoLayerModelFile {
  const header = { format: PMOE_MODEL_FORMAT, version: PMOE_MODEL_VERSION } as const;
  if (model instanceof TwoLayerCnn) {
    return { ...header, model: 'cnn', config: model.config, weights: { hidden: encodeTensor(model.hidden), output: encodeTensor(model.output) }, ...extras };
  }
  const weights = { routers: encodeTensor(model.routers), experts: encodeTensor(model.experts), output: encodeTensor(model.output) };
  return { ...header, model: 'pmoe', config: model.config, weights, ...extras };
}

/**
 * Builds the model a file describes, with the file's weights (a validated file object or any
 * parsed JSON value, which is validated first). The caller owns and disposes the model.
 */
export function deserializeTwoLayerModel(value: TwoLayerModelFile | unknown, where = 'model file'): TwoLayerModel {
  return build(validateTwoLayerModelFile(value, where), where);
}

/** As deserializeTwoLayerModel, and the file must hold a pMoE. */
export function deserializeTwoLayerPmoe(value: TwoLayerModelFile | unknown, where = 'model file'): TwoLayerPmoe {
  return build(validatePmoeModelFile(value, where), where) as TwoLayerPmoe;
}

function build(file: TwoLayerModelFile, where: string): TwoLayerModel {
  const weights = file.weights as Record<string, EncodedTensor>;
  const tensor = (name: string) => tf.tensor(decodeWeights(weights[name], name, where), [...weights[name].shape], 'float32');
  const model = file.model === 'cnn' ? new TwoLayerCnn(file.config) : new TwoLayerPmoe(file.config);
  const variables: Record<string, tf.Variable> = model instanceof TwoLayerCnn ? { hidden: model.hidden } : { routers: model.routers, experts: model.experts };
  for (const [name, variable] of Object.entries(variables)) {
    const saved = tensor(name);
    variable.assign(saved);
    saved.dispose();
  }
  // `output` is fixed, not a variable: the freshly drawn one is replaced by the saved one.
  model.output.dispose();
  (model as { output: tf.Tensor2D }).output = tensor('output') as tf.Tensor2D;
  return model;
}
