import type { z } from 'zod';
import type { RunSpec } from '../training/run.js';

/**
 * A named experiment of the paper: a typed config whose defaults are the paper's protocol, and
 * the runs it expands to. `quick` overrides make a reduced version that finishes in minutes.
 */
export interface ExperimentDefinition<S extends z.ZodType = z.ZodType, R extends RunSpec = RunSpec> {
  readonly name: string;
  /** What it reproduces, with the command that runs it. */
  readonly description: string;
  readonly schema: S;
  readonly quick: Partial<z.input<S>>;
  specs(options: z.output<S>): R[];
  /** How many runs `specs(options)` returns, counted without making them: a sweep's size is checked before it is planned. */
  runCount(options: z.output<S>): number;
  /** Why a run spec read back from a results file under this experiment's name cannot be one of its runs; undefined when it can. */
  runProblem(spec: unknown): string | undefined;
}

export function defineExperiment<S extends z.ZodType, R extends RunSpec>(definition: ExperimentDefinition<S, R>): ExperimentDefinition<S, R> {
  return definition;
}
