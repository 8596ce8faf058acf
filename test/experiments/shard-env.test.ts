import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveShard, shardFromEnvironment } from '../../src/experiments/shard-env.js';
import { shardOfPath, shardResultsPath } from '../../src/experiments/shard-files.js';
import { inShard, runKey } from '../../src/experiments/shard.js';
import { freshRng } from '../support/random.js';

const slurmTask = (id: number, min: number, max: number, count: number) => ({
  SLURM_ARRAY_JOB_ID: '812',
  SLURM_ARRAY_TASK_ID: String(id),
  SLURM_ARRAY_TASK_MIN: String(min),
  SLURM_ARRAY_TASK_MAX: String(max),
  SLURM_ARRAY_TASK_COUNT: String(count),
});
const indexOf = (env: Record<string, string>, count?: number) => {
  const shard = shardFromEnvironment(env, count);
  return [shard.index, shard.count];
};

describe('--shard auto: Kubernetes Indexed Job', () => {
  it('JOB_COMPLETION_INDEX i is shard i+1; the count comes from PMOE_SHARD_COUNT or the option', () => {
    assert.deepEqual(indexOf({ JOB_COMPLETION_INDEX: '0', PMOE_SHARD_COUNT: '6' }), [1, 6]);
    assert.deepEqual(indexOf({ JOB_COMPLETION_INDEX: '5', PMOE_SHARD_COUNT: '6' }), [6, 6]);
    assert.deepEqual(indexOf({ JOB_COMPLETION_INDEX: '2' }, 3), [3, 3]);
    assert.deepEqual(indexOf({ JOB_COMPLETION_INDEX: '2', PMOE_SHARD_COUNT: '3' }, 3), [3, 3]);
    assert.match(
      shardFromEnvironment({ JOB_COMPLETION_INDEX: '4', PMOE_SHARD_COUNT: '6', HOSTNAME: 'pmoe-fig4-4-x7' }).source,
      /Kubernetes completion index 4 \(pod pmoe-fig4-4-x7\)/,
    );
  });

  it('refuses a missing count, an index past it, disagreeing counts and malformed values', () => {
    assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '1' }), /JOB_COMPLETION_INDEX=1 .*needs the shard count.*PMOE_SHARD_COUNT/);
    assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '6', PMOE_SHARD_COUNT: '6' }), /JOB_COMPLETION_INDEX=6 is outside 0\.\.5 for 6 shards/);
    assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '1', PMOE_SHARD_COUNT: '4' }, 5), /--shard-count 5 disagrees with PMOE_SHARD_COUNT=4/);
    assert.throws(
      () => shardFromEnvironment({ JOB_COMPLETION_INDEX: 'one', PMOE_SHARD_COUNT: '4' }),
      /JOB_COMPLETION_INDEX must be a whole number >= 0; got 'one'/,
    );
    assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '0', PMOE_SHARD_COUNT: '0' }), /PMOE_SHARD_COUNT must be >= 1/);
  });

  it('the indices 0..N-1 split any sweep: every run in exactly one shard', () => {
    const rng = freshRng('shard-env split');
    for (const count of [1, 3, 7]) {
      const runs = Array.from({ length: 50 + count }, () => ({ key: runKey({ value: rng.normal() }) }));
      const seen = Array.from({ length: count }, (_, index) =>
        inShard(runs, shardFromEnvironment({ JOB_COMPLETION_INDEX: String(index), PMOE_SHARD_COUNT: String(count) })),
      ).flat();
      assert.deepEqual(seen.map((run) => run.key).sort(), runs.map((run) => run.key).sort());
    }
  });
});

describe('--shard auto: Slurm job array', () => {
  it('a whole array: the task ID relative to the lowest is the index, the array size the count', () => {
    assert.deepEqual(indexOf(slurmTask(0, 0, 7, 8)), [1, 8]);
    assert.deepEqual(indexOf(slurmTask(7, 0, 7, 8)), [8, 8]);
    assert.deepEqual(indexOf(slurmTask(5, 1, 8, 8)), [5, 8]);
    assert.match(shardFromEnvironment(slurmTask(3, 0, 7, 8)).source, /Slurm array task 3 \(job 812\)/);
  });

  it('with the count given, the task ID is the index: a task resubmitted alone runs its own shard', () => {
    assert.deepEqual(indexOf({ ...slurmTask(3, 3, 3, 1), PMOE_SHARD_COUNT: '8' }), [4, 8]);
    assert.deepEqual(indexOf(slurmTask(5, 3, 5, 2), 8), [6, 8]);
    assert.throws(() => shardFromEnvironment({ ...slurmTask(8, 1, 8, 8), PMOE_SHARD_COUNT: '8' }), /SLURM_ARRAY_TASK_ID=8 is outside 0\.\.7 for 8 shards/);
  });

  it('without a count, refuses arrays whose IDs cannot be shard indices', () => {
    assert.throws(() => shardFromEnvironment(slurmTask(3, 3, 3, 1)), /1 task \(ID 3\).*resubmitted index.*PMOE_SHARD_COUNT/);
    assert.throws(() => shardFromEnvironment(slurmTask(5, 3, 5, 2)), /not one contiguous range/);
    assert.throws(() => shardFromEnvironment(slurmTask(4, 0, 6, 4)), /not one contiguous range/); // --array=0-6:2
    assert.throws(() => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '2' }), /SLURM_ARRAY_TASK_MIN or SLURM_ARRAY_TASK_COUNT is not/);
  });

  it('no scheduler, a plain Slurm job or both schedulers: a clear error', () => {
    assert.throws(() => shardFromEnvironment({}), /no scheduler shard.*SLURM_ARRAY_TASK_ID.*JOB_COMPLETION_INDEX.*--shard i\/N/);
    assert.throws(() => shardFromEnvironment({ SLURM_JOB_ID: '77' }), /Slurm job 77 but not an array task: submit with sbatch --array/);
    assert.throws(() => shardFromEnvironment({ ...slurmTask(0, 0, 1, 2), JOB_COMPLETION_INDEX: '0' }), /both SLURM_ARRAY_TASK_ID=0 and JOB_COMPLETION_INDEX=0/);
  });
});

describe('resolveShard and shard file names', () => {
  it('i/N, auto, and --shard-count only with auto', () => {
    assert.deepEqual(resolveShard('2/4', undefined, {}), { index: 2, count: 4 });
    assert.equal(resolveShard(undefined, undefined, {}), undefined);
    assert.deepEqual({ ...resolveShard('auto', 4, { JOB_COMPLETION_INDEX: '1' }), source: undefined }, { index: 2, count: 4, source: undefined });
    assert.throws(() => resolveShard('2/4', 4, {}), /--shard-count is for --shard auto/);
    assert.throws(() => resolveShard(undefined, 4, {}), /--shard-count is for --shard auto/);
  });

  it('each shard has its own file, and the name gives the shard back', () => {
    assert.equal(shardResultsPath('fig4', { index: 3, count: 8 }), 'results/fig4.shard-3-of-8.jsonl');
    assert.equal(shardResultsPath('fig4-quick', undefined), 'results/fig4-quick.jsonl');
    assert.deepEqual(shardOfPath('out/fig4-quick.shard-3-of-8.jsonl'), { index: 3, count: 8 });
    assert.equal(shardOfPath('results/fig4.jsonl'), undefined);
    assert.equal(shardOfPath('results/fig4.shard-9-of-8.jsonl'), undefined);
  });
});
