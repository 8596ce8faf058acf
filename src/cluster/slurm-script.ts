import { shellWord } from '../util/shell-word.js';
import { shardArguments, type SweepJob } from './sweep-job.js';

export interface SlurmOptions {
  /** The command that starts pmoe on the compute nodes, as shell words (e.g. [node, /path/bin/pmoe.js]). */
  readonly pmoe: readonly string[];
  /** Folder the tasks run in (results/ and logs are under it); absolute, so the script runs from anywhere. */
  readonly workdir: string;
  /** Folder of the per-task logs. */
  readonly logDir: string;
  readonly partition?: string;
  readonly gpusPerTask?: number;
  /** e.g. 4G; Slurm's --mem, per task. */
  readonly memory?: string;
  /** e.g. 2:00:00; Slurm's --time, per task. */
  readonly time?: string;
  /** At most this many tasks at once (`--array=0-7%2`). */
  readonly maxRunning?: number;
  /** The `pmoe cluster slurm ...` command that wrote the script, for its header. */
  readonly writtenBy: string;
}

/**
 * An sbatch script that runs a sweep as a job array: array task i runs shard i+1 of N. The shard
 * count is pinned (PMOE_SHARD_COUNT), so a task resubmitted alone (`sbatch --array=3 script`) runs
 * the same shard, resuming from its results file.
 */
export function slurmScript(job: SweepJob, options: SlurmOptions): string {
  const name = `pmoe-${job.experiment}`;
  const directive = (flag: string, value: string | number) => `#SBATCH --${flag}=${value}`;
  const lines = [
    '#!/bin/bash',
    `# pmoe ${job.experiment} as a Slurm job array of ${job.tasks} tasks: array task i runs shard i+1 of ${job.tasks}.`,
    `# Submit: sbatch <this file>. Rerun unfinished tasks by index: sbatch --array=3,5 <this file> (they resume).`,
    `# Written by: ${options.writtenBy}`,
    directive('job-name', name),
    directive('array', `0-${job.tasks - 1}${options.maxRunning ? `%${options.maxRunning}` : ''}`),
    directive('ntasks', 1),
    directive('cpus-per-task', job.jobs),
    ...(options.gpusPerTask ? [directive('gpus-per-task', options.gpusPerTask)] : []),
    ...(options.partition ? [directive('partition', options.partition)] : []),
    ...(options.memory ? [directive('mem', options.memory)] : []),
    ...(options.time ? [directive('time', options.time)] : []),
    // %A: the array's job ID, %a: the task's index; a resubmitted task gets a new %A, so logs are never overwritten.
    directive('output', shellWord(`${options.logDir}/${name}-%A_%a.out`)),
    directive('chdir', shellWord(options.workdir)),
    'set -euo pipefail',
    `export PMOE_SHARD_COUNT=${job.tasks}`,
    `exec ${[...options.pmoe, ...shardArguments(job)].map(shellWord).join(' ')}`,
    '',
  ];
  return lines.join('\n');
}
