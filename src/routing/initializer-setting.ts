import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';

/**
 * A tfjs-layers initialiser (what `tfl.initializers.heNormal()` returns), as far as pmoe uses one.
 * pmoe's own interface: tfjs-layers exports the class only from a deep path that ES-module type
 * resolution (NodeNext) cannot reach.
 */
export interface Initializer {
  apply(shape: tfl.Shape, dtype?: tf.DataType): tf.Tensor;
  getClassName(): string;
  getConfig(): tf.serialization.ConfigDict;
}
/** The class tfjs-layers' addWeight takes. */
type LayersInitializer = ReturnType<typeof tfl.initializers.heNormal>;

/** Initialiser names a PatchMoE accepts (tfjs's identifiers that need no arguments beyond a seed). */
export const PATCH_MOE_INITIALIZERS = [
  'glorotUniform',
  'glorotNormal',
  'heNormal',
  'heUniform',
  'leCunNormal',
  'leCunUniform',
  'randomNormal',
  'randomUniform',
  'truncatedNormal',
  'varianceScaling',
  'orthogonal',
  'zeros',
  'ones',
] as const;
export type InitializerName = (typeof PATCH_MOE_INITIALIZERS)[number];

/** An initialiser as tfjs serialises one: `{ className, config }`. */
export interface SerializedInitializer {
  readonly className: string;
  readonly config: tf.serialization.ConfigDict;
}

/** What an initialiser option takes, as tfjs layers' options do: an Initializer, a name, or the serialised form. */
export type InitializerSetting = Initializer | InitializerName | SerializedInitializer;

const isInitializer = (value: unknown): value is Initializer =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Initializer).apply === 'function' &&
  typeof (value as Initializer).getClassName === 'function';

export const initializerSettingSchema = z.union([
  z.enum(PATCH_MOE_INITIALIZERS),
  z.custom<Initializer>(isInitializer, { message: `must be a tfjs Initializer, one of ${PATCH_MOE_INITIALIZERS.join(', ')}, or { className, config }` }),
  z.object({ className: z.string(), config: z.record(z.string(), z.any()) }),
]);

// Initialisers that draw nothing, so take no seed.
const UNSEEDED_CLASSES = new Set(['Zeros', 'Ones', 'Constant', 'Identity']);

function fromSerialized({ className, config }: SerializedInitializer): LayersInitializer {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`unknown initializer class '${className}' (not registered with tf.serialization)`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as unknown as LayersInitializer;
}

/**
 * The initialiser for one weight. `seed`, when given, makes it deterministic and different per
 * weight (PatchMoE derives one per expert, so experts start apart); an Initializer or serialised
 * one that carries its own seed is offset by `offset` instead. Without any seed, an Initializer
 * instance is used as is: each call draws fresh values.
 */
export function makeInitializer(setting: InitializerSetting, seed: number | undefined, offset: number): LayersInitializer {
  if (typeof setting === 'string') {
    const make = tfl.initializers[setting] as (args?: { seed?: number }) => LayersInitializer;
    return setting === 'zeros' || setting === 'ones' ? make() : make({ seed });
  }
  const serialized = isInitializer(setting) ? serializeInitializer(setting) : setting;
  const ownSeed = serialized.config.seed;
  const seeded = !UNSEEDED_CLASSES.has(serialized.className);
  if (seeded && typeof ownSeed === 'number') return fromSerialized({ ...serialized, config: { ...serialized.config, seed: ownSeed + offset } });
  if (seeded && seed !== undefined) return fromSerialized({ ...serialized, config: { ...serialized.config, seed } });
  return isInitializer(setting) ? (setting as LayersInitializer) : fromSerialized(serialized);
}

/** tfjs's serialised form of an initialiser setting, `{ className, config }`, as tfjs layers write theirs in getConfig. */
export function serializeInitializer(setting: InitializerSetting): SerializedInitializer {
  if (typeof setting === 'string') return serializeInitializer(makeInitializer(setting, undefined, 0));
  if (isInitializer(setting)) {
    // Unset options as null, as tfjs's own layers write them (undefined would vanish from JSON).
    const config = Object.fromEntries(Object.entries(setting.getConfig()).map(([key, value]) => [key, value === undefined ? null : value]));
    return { className: setting.getClassName(), config };
  }
  return setting;
}
