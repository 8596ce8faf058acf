import type { BackendName } from '../engine/backend.js';
import { EXPERIMENTS, experimentByName } from '../experiments/registry.js';
import { SCALING_EXPERIMENT, SCALING_QUICK, scalingCells, scalingSchema } from '../experiments/scaling.js';
import { runKey } from '../experiments/shard.js';
import { parseOverrides } from '../util/overrides.js';
import { OptionError, parseOptions } from '../util/options.js';

/** A sweep split over the tasks of a scheduler job: task i (0-based) runs shard i+1 of `tasks`. */
export interface SweepJob {
  /** A `pmoe reproduce` experiment, or `scaling` (`pmoe scaling`, split by cell). */
  readonly experiment: string;
  readonly tasks: number;
  readonly quick?: boolean;
  /** `key=value` overrides, as `--set` takes them. */
  readonly set: readonly string[];
  /** Worker processes per task (`--jobs`); one per CPU the task gets. */
  readonly jobs: number;
  readonly backend?: BackendName;
}

/**
 * Checks the experiment and its settings now, on the submitting machine, rather than in every task;
 * returns how many units the tasks share: runs for a fixed sweep, bisection cells for scaling.
 */
export function checkSweepJob(job: SweepJob): { units: number; unit: 'runs' | 'cells' } {
  if (!Number.isInteger(job.tasks) || job.tasks < 1) throw new OptionError(`--tasks must be a whole number >= 1; got ${job.tasks}`);
  const overrides = parseOverrides(job.set);
  if (job.experiment === SCALING_EXPERIMENT) {
    const settings = parseOptions(scalingSchema, { ...(job.quick ? SCALING_QUICK : {}), ...overrides }, SCALING_EXPERIMENT);
    return { units: scalingCells(settings).cells.length, unit: 'cells' };
  }
  if (!(job.experiment in EXPERIMENTS)) experimentByName(job.experiment); // throws, naming the known experiments
  const experiment = EXPERIMENTS[job.experiment];
  const settings = parseOptions(experiment.schema, { ...(job.quick ? experiment.quick : {}), ...overrides }, job.experiment);
  return { units: new Set(experiment.specs(settings).map(runKey)).size, unit: 'runs' };
}

/** The arguments after `pmoe` that one task runs; the shard comes from the scheduler (--shard auto). */
export function shardArguments(job: SweepJob): string[] {
  const command = job.experiment === SCALING_EXPERIMENT ? ['scaling'] : ['reproduce', job.experiment];
  return [
    ...command,
    '--shard',
    'auto',
    '--jobs',
    String(job.jobs),
    ...(job.quick ? ['--quick'] : []),
    ...job.set.flatMap((pair) => ['--set', pair]),
    ...(job.backend && job.backend !== 'auto' ? ['--backend', job.backend] : []),
  ];
}

/** The results files the tasks write, as a shell pattern: `results/fig4.shard-*-of-8.jsonl`. */
export function shardFilesPattern(job: SweepJob): string {
  return `results/${job.experiment}${job.quick ? '-quick' : ''}.shard-*-of-${job.tasks}.jsonl`;
}

/** The results file `pmoe merge` should write. */
export function mergedResultsPath(job: SweepJob): string {
  return `results/${job.experiment}${job.quick ? '-quick' : ''}.jsonl`;
}
