import { totalmem } from 'node:os';
import { parseDecimal } from './decimal.js';
import { OptionError } from './options.js';

/** A run refused before any data is made: its estimated memory is over the limit. */
export class MemoryLimitError extends RangeError {
  override name = 'MemoryLimitError';
}

/**
 * Bytes per float32 sample value, times a safety factor of 3: each data set lives once as a
 * Float32Array in JS and once more as a backend tensor in whole-set passes (separate training's
 * router loss); the third copy covers batch and evaluation temporaries and garbage not yet collected.
 */
export const MEMORY_SAFETY_FACTOR = 3;
const FLOAT32_BYTES = 4;

/** The default limit is this share of the machine's memory: the OS, other processes and the other sweep workers need the rest. */
export const DEFAULT_MEMORY_SHARE = 0.5;
export const MEMORY_LIMIT_ENV = 'PMOE_MEMORY_LIMIT_MB';

export interface RunFootprint {
  /** Training plus test samples. */
  readonly samples: number;
  /** n */
  readonly patchCount: number;
  /** d */
  readonly patchDim: number;
  /** Model weights (float32); their gradients are covered by the safety factor. */
  readonly parameters?: number;
  /** Raw bytes of data files kept in memory (MNIST's pixels). */
  readonly fileBytes?: number;
}

/** Bytes a run will need: float32 data and weights times MEMORY_SAFETY_FACTOR, plus the raw files. */
export function estimateRunBytes(f: RunFootprint): number {
  const floats = f.samples * f.patchCount * f.patchDim + (f.parameters ?? 0);
  return MEMORY_SAFETY_FACTOR * FLOAT32_BYTES * floats + (f.fileBytes ?? 0);
}

export interface MemoryLimit {
  readonly bytes: number;
  /** Where the limit comes from, for messages. */
  readonly source: string;
}

/** PMOE_MEMORY_LIMIT_MB when set, else DEFAULT_MEMORY_SHARE of os.totalmem(). */
export function memoryLimit(env: NodeJS.ProcessEnv = process.env): MemoryLimit {
  const text = env[MEMORY_LIMIT_ENV];
  if (text !== undefined && text.trim() !== '') {
    const megabytes = parseDecimal(text.trim());
    if (megabytes === undefined || megabytes <= 0) {
      throw new OptionError(`${MEMORY_LIMIT_ENV}: must be a number of megabytes > 0 (got '${text}')`);
    }
    return { bytes: megabytes * 2 ** 20, source: `${MEMORY_LIMIT_ENV}=${text}` };
  }
  const total = totalmem();
  return {
    bytes: DEFAULT_MEMORY_SHARE * total,
    source: `${DEFAULT_MEMORY_SHARE * 100}% of this machine's ${formatBytes(total)}; set ${MEMORY_LIMIT_ENV} to change it`,
  };
}

/** `512.0 MB`, `3.2 GB`, `41.9 TB`: binary units, one decimal. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Throws a MemoryLimitError when `estimate` bytes exceed the limit. `what` names the run,
 * `cure` says what to change.
 */
export function checkMemory(estimate: number, what: string, cure: string, limit: MemoryLimit = memoryLimit()): void {
  if (estimate > limit.bytes) {
    throw new MemoryLimitError(
      `${what} would need about ${formatBytes(estimate)} of memory (estimate, safety factor ${MEMORY_SAFETY_FACTOR} included), ` +
        `over the limit of ${formatBytes(limit.bytes)} (${limit.source}); ${cure}, or raise ${MEMORY_LIMIT_ENV}`,
    );
  }
}
