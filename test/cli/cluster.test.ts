import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { kubernetesJob } from '../../src/cluster/k8s-job.js';
import { slurmScript } from '../../src/cluster/slurm-script.js';
import { checkSweepJob, shardArguments, type SweepJob } from '../../src/cluster/sweep-job.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

async function pmoeIn(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd, env, timeout: 60_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pmoe-cluster-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Without any scheduler variables of the machine running the tests.
const cleanEnv = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SLURM_') && name !== 'JOB_COMPLETION_INDEX' && name !== 'PMOE_SHARD_COUNT'),
  );

const job: SweepJob = { experiment: 'fig5', tasks: 6, quick: true, set: ['seeds=3', "note=it's"], jobs: 4, backend: 'wasm' };

describe('pmoe cluster slurm', () => {
  it('fig4 --tasks 8: a script bash accepts, with the array, --shard auto, the pinned count and a log per task', () =>
    withDir(async (dir) => {
      const result = await pmoeIn(dir, cleanEnv(), 'cluster', 'slurm', 'fig4', '--tasks', '8');
      assert.equal(result.code, 0, result.stderr);
      const script = await readFile(join(dir, 'fig4.sbatch'), 'utf8');
      await run('bash', ['-n', join(dir, 'fig4.sbatch')]);
      assert.match(script, /^#!\/bin\/bash\n/);
      assert.match(script, /^#SBATCH --array=0-7$/m);
      assert.match(script, /^#SBATCH --output=.*\/logs\/pmoe-fig4-%A_%a\.out$/m);
      assert.match(script, /^export PMOE_SHARD_COUNT=8$/m);
      assert.match(script, /^exec .*bin\/pmoe\.js reproduce fig4 --shard auto --jobs 1$/m);
      // Every directive comes before the first command, or sbatch ignores it.
      const firstCommand = script.split('\n').findIndex((line) => line !== '' && !line.startsWith('#'));
      assert.ok(script.split('\n').every((line, i) => !line.startsWith('#SBATCH') || i < firstCommand));
      assert.deepEqual(await readdir(join(dir, 'logs')), [], 'the log folder exists before any task starts');
      assert.match(result.stdout, /90 runs over 8 tasks/);
      assert.match(result.stdout, /sbatch fig4\.sbatch/);
      assert.match(result.stdout, /pmoe merge results\/fig4\.shard-\*-of-8\.jsonl --out results\/fig4\.jsonl/);
    }));

  it('resources, quoting and throttling', () => {
    const script = slurmScript(job, {
      pmoe: ['pmoe'],
      workdir: '/scratch/my sweep',
      logDir: '/scratch/my sweep/logs',
      partition: 'gpu',
      gpusPerTask: 1,
      memory: '8G',
      time: '4:00:00',
      maxRunning: 2,
      writtenBy: 'pmoe cluster slurm fig5',
    });
    for (const line of [
      '#SBATCH --array=0-5%2',
      '#SBATCH --cpus-per-task=4',
      '#SBATCH --gpus-per-task=1',
      '#SBATCH --partition=gpu',
      '#SBATCH --mem=8G',
      '#SBATCH --time=4:00:00',
      "#SBATCH --chdir='/scratch/my sweep'",
    ]) {
      assert.ok(script.split('\n').includes(line), line);
    }
    assert.match(script, /^exec pmoe reproduce fig5 --shard auto --jobs 4 --quick --set seeds=3 --set 'note=it'\\''s' --backend wasm$/m);
  });

  it('bad input fails before anything is written', () =>
    withDir(async (dir) => {
      const unknown = await pmoeIn(dir, cleanEnv(), 'cluster', 'slurm', 'fig99', '--tasks', '2');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /unknown experiment 'fig99' \(did you mean fig9\?\); known: fig4/);
      const badSet = await pmoeIn(dir, cleanEnv(), 'cluster', 'slurm', 'fig4', '--tasks', '2', '--set', 'seeds=0');
      assert.match(badSet.stderr, /fig4\.seeds: /);
      const noTasks = await pmoeIn(dir, cleanEnv(), 'cluster', 'slurm', 'fig4');
      assert.match(noTasks.stderr, /--tasks <n>' not specified/);
      assert.deepEqual(await readdir(dir), []);
    }));

  it('scaling shards split the grid by cell', () => {
    assert.deepEqual(shardArguments({ ...job, experiment: 'scaling', set: [] }).slice(0, 3), ['scaling', '--shard', 'auto']);
    // --quick: n = 8, 16, 32; the CNN one cell per n, each pMoE one per (n, l) with l = 2, 8.
    assert.deepEqual(checkSweepJob({ experiment: 'scaling', tasks: 4, quick: true, set: [], jobs: 1 }), { units: 3 + 6 + 6, unit: 'cells' });
  });
});

describe('pmoe cluster k8s', () => {
  it('an Indexed Job: one completion per shard, retries per index, the count in PMOE_SHARD_COUNT, the results on a volume', () => {
    const manifest = parse(
      kubernetesJob(job, {
        image: 'registry.example/pmoe:1',
        pmoe: ['pmoe'],
        workdir: '/work',
        claim: 'sweeps',
        gpusPerTask: 1,
        memory: '6Gi',
        maxRunning: 3,
        retries: 2,
        writtenBy: 'pmoe cluster k8s fig5',
      }),
    );
    assert.equal(manifest.kind, 'Job');
    assert.equal(manifest.metadata.name, 'pmoe-fig5');
    assert.deepEqual(
      [manifest.spec.completionMode, manifest.spec.completions, manifest.spec.parallelism, manifest.spec.backoffLimitPerIndex],
      ['Indexed', 6, 3, 2],
    );
    const pod = manifest.spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    const [container] = pod.containers;
    assert.deepEqual(container.command, [
      'pmoe',
      'reproduce',
      'fig5',
      '--shard',
      'auto',
      '--jobs',
      '4',
      '--quick',
      '--set',
      'seeds=3',
      '--set',
      "note=it's",
      '--backend',
      'wasm',
    ]);
    assert.deepEqual(container.env, [{ name: 'PMOE_SHARD_COUNT', value: '6' }]);
    assert.deepEqual(container.resources, { requests: { cpu: '4', memory: '6Gi' }, limits: { 'nvidia.com/gpu': 1 } });
    assert.deepEqual(container.volumeMounts, [{ name: 'results', mountPath: '/work/results' }]);
    assert.deepEqual(pod.volumes, [{ name: 'results', persistentVolumeClaim: { claimName: 'sweeps' } }]);
  });

  it('the command writes the manifest', () =>
    withDir(async (dir) => {
      const result = await pmoeIn(dir, cleanEnv(), 'cluster', 'k8s', 'fig4', '--tasks', '3', '--quick', '--json');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).manifest, 'fig4-quick.job.yaml');
      assert.equal(parse(await readFile(join(dir, 'fig4-quick.job.yaml'), 'utf8')).spec.completions, 3);
    }));
});

describe('pmoe reproduce --shard auto', () => {
  it('outside a scheduler, or a Kubernetes index without a count: a clear error, nothing run', () =>
    withDir(async (dir) => {
      const none = await pmoeIn(dir, cleanEnv(), 'reproduce', 'fig4', '--quick', '--shard', 'auto');
      assert.equal(none.code, 1);
      assert.match(none.stderr, /--shard auto: no scheduler shard in the environment/);
      const k8s = await pmoeIn(dir, { ...cleanEnv(), JOB_COMPLETION_INDEX: '1' }, 'scaling', '--quick', '--shard', 'auto');
      assert.match(k8s.stderr, /JOB_COMPLETION_INDEX=1 .*needs the shard count/);
      assert.deepEqual(await readdir(dir), []);
    }));
});
