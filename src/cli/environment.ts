import { convSetting } from '../kernels/convolution.js';
import { threadsSetting } from '../kernels/gemm-threads.js';
import { IMAGE_STEP_ENV, IMAGE_STEP_PATHS } from '../training/train-image-model.js';
import { PRECISIONS } from '../training/webgpu/precision.js';
import { parseDecimal } from '../util/decimal.js';
import { memoryLimit } from '../util/memory-estimate.js';
import { OptionError } from '../util/options.js';

/** The choices of a variable whose value is one word: unset or empty means its default. */
const CHOICES: Readonly<Record<string, readonly string[]>> = {
  [IMAGE_STEP_ENV]: IMAGE_STEP_PATHS,
  PMOE_PRECISION: PRECISIONS,
  PMOE_FMA: ['0', '1'],
};

/**
 * Every environment variable that changes how pmoe computes, checked once before any command
 * works: the code that reads one may run only in a sweep's workers, or only on some models, and a
 * bad value would then fail every run (or be ignored) instead of the command. Each message names
 * the variable, the value and what it takes.
 */
export function checkEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const set = (name: string) => env[name] !== undefined && env[name] !== '';
  for (const [name, choices] of Object.entries(CHOICES)) {
    if (set(name) && !choices.includes(env[name]!)) {
      throw new OptionError(`${name} must be one of ${choices.join(', ')} (unset: the default); got ${JSON.stringify(env[name])}`);
    }
  }
  try {
    if (set('PMOE_THREADS')) threadsSetting(env.PMOE_THREADS!);
    convSetting(env.PMOE_CONV);
  } catch (error) {
    throw new OptionError((error as Error).message, { cause: error });
  }
  memoryLimit(env);
  if (set('PMOE_LOCK_STALE_MS')) {
    const stale = parseDecimal(env.PMOE_LOCK_STALE_MS!);
    if (stale === undefined || stale < 2000) {
      throw new OptionError(`PMOE_LOCK_STALE_MS must be a number of milliseconds >= 2000 in decimal; got ${JSON.stringify(env.PMOE_LOCK_STALE_MS)}`);
    }
  }
}
