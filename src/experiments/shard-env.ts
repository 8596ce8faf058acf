/**
 * `--shard auto`: which shard of a sweep this process runs, read from the scheduler that started it.
 *
 * - Slurm job array: shard index = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, count =
 *   SLURM_ARRAY_TASK_COUNT. That holds only for the first, whole submission: resubmitting one index
 *   (`sbatch --array=3 ...`) makes a one-task array (MIN = 3, COUNT = 1). So when the count is given
 *   (--shard-count or PMOE_SHARD_COUNT, which `pmoe cluster slurm` scripts set), the task ID itself is
 *   the 0-based shard index and a resubmitted index runs the same shard it ran first.
 * - Kubernetes Indexed Job: JOB_COMPLETION_INDEX is the 0-based index; Kubernetes does not expose the
 *   number of completions, so the count must be given.
 *
 * Shards are numbered 1..N as in `--shard i/N`: array task or completion index 0 is shard 1.
 */
import { OptionError } from '../util/options.js';
import { parseShard, type Shard } from './shard.js';

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ScheduledShard extends Shard {
  /** Where the index came from, for logs: `Slurm array task 3 (job 812)`. */
  readonly source: string;
}

function wholeNumber(env: Environment, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text.trim() === '') return undefined;
  if (!/^\d+$/.test(text.trim())) throw new OptionError(`--shard auto: ${name} must be a whole number >= 0; got '${text}'`);
  return Number(text);
}

/** The shard count given by the user: the option, else PMOE_SHARD_COUNT; both given must agree. */
function givenCount(env: Environment, option: number | undefined): number | undefined {
  const fromEnv = wholeNumber(env, 'PMOE_SHARD_COUNT');
  if (fromEnv === 0) throw new OptionError('--shard auto: PMOE_SHARD_COUNT must be >= 1; got 0');
  if (option !== undefined && fromEnv !== undefined && option !== fromEnv) {
    throw new OptionError(`--shard auto: --shard-count ${option} disagrees with PMOE_SHARD_COUNT=${fromEnv}`);
  }
  return option ?? fromEnv;
}

function slurmShard(env: Environment, id: number, count: number | undefined): ScheduledShard {
  const job = env.SLURM_ARRAY_JOB_ID ? ` (job ${env.SLURM_ARRAY_JOB_ID})` : '';
  const source = `Slurm array task ${id}${job}`;
  if (count !== undefined) {
    if (id >= count)
      throw new OptionError(
        `--shard auto: SLURM_ARRAY_TASK_ID=${id} is outside 0..${count - 1} for ${count} shards (submit the array as --array=0-${count - 1}, or resubmit indices in that range)`,
      );
    return { index: id + 1, count, source };
  }
  const min = wholeNumber(env, 'SLURM_ARRAY_TASK_MIN');
  const max = wholeNumber(env, 'SLURM_ARRAY_TASK_MAX');
  const tasks = wholeNumber(env, 'SLURM_ARRAY_TASK_COUNT');
  const pin = 'set PMOE_SHARD_COUNT (or --shard-count) to the number of shards, as `pmoe cluster slurm` scripts do';
  if (min === undefined || tasks === undefined)
    throw new OptionError(`--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN or SLURM_ARRAY_TASK_COUNT is not; ${pin}`);
  if (tasks < 2)
    throw new OptionError(
      `--shard auto: this Slurm array has ${tasks} task (ID ${id}), which is how a resubmitted index looks, so the shard count is unknown; ${pin}`,
    );
  if (id < min || (max !== undefined && (id > max || max - min + 1 !== tasks))) {
    throw new OptionError(
      `--shard auto: the Slurm array (IDs ${min}..${max ?? '?'}, ${tasks} tasks, this one ${id}) is not one contiguous range, so task IDs cannot be shard indices; ${pin}`,
    );
  }
  return { index: id - min + 1, count: tasks, source };
}

/** The shard named by the scheduler's environment; a clear OptionError when it names none or is inconsistent. */
export function shardFromEnvironment(env: Environment, countOption?: number): ScheduledShard {
  const slurmId = wholeNumber(env, 'SLURM_ARRAY_TASK_ID');
  const k8sIndex = wholeNumber(env, 'JOB_COMPLETION_INDEX');
  const count = givenCount(env, countOption);
  if (slurmId !== undefined && k8sIndex !== undefined) {
    throw new OptionError(
      `--shard auto: both SLURM_ARRAY_TASK_ID=${slurmId} and JOB_COMPLETION_INDEX=${k8sIndex} are set; unset the one that does not belong to this job`,
    );
  }
  if (slurmId !== undefined) return slurmShard(env, slurmId, count);
  if (k8sIndex !== undefined) {
    if (count === undefined)
      throw new OptionError(
        `--shard auto: JOB_COMPLETION_INDEX=${k8sIndex} (a Kubernetes Indexed Job) needs the shard count, which Kubernetes does not expose: set PMOE_SHARD_COUNT to the Job's completions (pmoe cluster k8s writes it) or pass --shard-count`,
      );
    if (k8sIndex >= count)
      throw new OptionError(
        `--shard auto: JOB_COMPLETION_INDEX=${k8sIndex} is outside 0..${count - 1} for ${count} shards (completions and PMOE_SHARD_COUNT must agree)`,
      );
    return { index: k8sIndex + 1, count, source: `Kubernetes completion index ${k8sIndex}${env.HOSTNAME ? ` (pod ${env.HOSTNAME})` : ''}` };
  }
  const inSlurmJob = env.SLURM_JOB_ID ? ` This is Slurm job ${env.SLURM_JOB_ID} but not an array task: submit with sbatch --array=0-<N-1>.` : '';
  throw new OptionError(
    `--shard auto: no scheduler shard in the environment; expected SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).${inSlurmJob} Outside a scheduler use --shard i/N.`,
  );
}

/** `--shard i/N` or `--shard auto` (with an optional --shard-count); undefined without --shard. */
export function resolveShard(text: string | undefined, countOption: number | undefined, env: Environment = process.env): Shard | ScheduledShard | undefined {
  if (text === undefined) {
    if (countOption !== undefined) throw new OptionError('--shard-count is for --shard auto; without --shard the whole sweep runs');
    return undefined;
  }
  if (text.trim() === 'auto') return shardFromEnvironment(env, countOption);
  if (countOption !== undefined) throw new OptionError(`--shard-count is for --shard auto; --shard ${text} names its count already`);
  return parseShard(text);
}
