/**
 * Bounds on a sweep's size, checked from its options before a single run is planned: a count such
 * as `--set seeds=1e9` would otherwise build a billion specs and abort V8.
 */
import { checkMemory, MEMORY_SAFETY_FACTOR, memoryLimit, type MemoryLimit } from '../util/memory-estimate.js';
import { OptionError } from '../util/options.js';

/** The most seeds one experiment takes (the paper uses 5, Figure 5 uses 20). */
export const MAX_SEEDS = 1000;
/** The most epochs (or router epochs) of one run: the trainers' own limit, so that `pmoe train` and sweeps agree. */
export { MAX_EPOCHS } from '../training/sgd.js';
/** The most runs one sweep plans. */
export const MAX_PLANNED_RUNS = 100_000;
/**
 * Memory one planned run holds while its sweep runs, before the safety factor: its spec and key
 * (0.7 KB measured) and its result line held as objects (a few KB; an MNIST line is 20 KB of JSON).
 */
export const BYTES_PER_PLANNED_RUN = 4 * 1024;

/** Throws an OptionError, or a MemoryLimitError with the estimate, when `runs` runs are too many for one sweep of `what`. */
export function checkPlannedRuns(what: string, runs: number, limit: MemoryLimit = memoryLimit()): void {
  const cure = 'use fewer seeds, sizes, models or settings per sweep';
  if (!(runs <= MAX_PLANNED_RUNS)) throw new OptionError(`${what} would plan ${runs} runs, more than one sweep takes (${MAX_PLANNED_RUNS}); ${cure}`);
  checkMemory(runs * BYTES_PER_PLANNED_RUN * MEMORY_SAFETY_FACTOR, `planning ${runs} runs of ${what}`, cure, limit);
}
