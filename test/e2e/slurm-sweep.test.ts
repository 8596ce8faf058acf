/**
 * A sweep on a real (private, single-node) Slurm cluster: `pmoe cluster slurm` writes the script,
 * sbatch runs it as a 3-task array, one task is cancelled mid-run and resubmitted by its index,
 * `pmoe merge` joins the shard files, and every planned run is there exactly once, intact.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { EXPERIMENTS } from '../../src/experiments/registry.js';
import { inShard, runKey } from '../../src/experiments/shard.js';
import type { ExperimentStatus } from '../../src/experiments/sweep-status.js';
import { parseOverrides } from '../../src/util/overrides.js';
import { isPatchLine, loadResultsFile } from '../../src/report/load-results.js';
import type { PatchRunSpec } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from '../support/slurm-cluster.js';
import { pmoeIn } from '../support/pmoe-cli.js';

const run = promisify(execFile);
const unavailable = slurmUnavailable();

// A tiny fig4: 2 sizes x 3 models x 2 seeds = 12 runs of about a second or less, 4 per task.
const SETTINGS = ['sizes=[100,200]', 'seeds=2', 'epochs=15', 'routerEpochs=5', 'testCount=100', 'evalEvery=15'];
const TASKS = 3;
const KILLED = 1; // array index; shard 2 of 3

const plan = () => {
  const settings = parseOptions(EXPERIMENTS.fig4.schema, parseOverrides(SETTINGS), 'fig4');
  return EXPERIMENTS.fig4.specs(settings).map((spec) => ({ key: runKey(spec), spec }));
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fullLines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(0, -1).length : 0);

let cluster: SlurmCluster | undefined;

before(async () => {
  if (!unavailable) cluster = await startSlurm(await mkdtemp(join(tmpdir(), 'pmoe-slurm-')), { cpus: TASKS });
});
after(async () => {
  await cluster?.stop();
});

test('a sweep as a Slurm job array: a cancelled task resubmitted by index, merged, every run once', { skip: unavailable, timeout: 300_000 }, async () => {
  const slurm = cluster!;
  const dir = slurm.dir;
  const script = join(dir, 'fig4.sbatch');
  await pmoeIn(dir, 'cluster', 'slurm', 'fig4', '--tasks', String(TASKS), ...SETTINGS.flatMap((pair) => ['--set', pair]), '--backend', 'wasm', '--out', script);
  await run('bash', ['-n', script]);

  const jobId = (await slurm.command('sbatch', '--parsable', script)).trim().split(';')[0];
  const killedFile = join(dir, 'results', `fig4.shard-${KILLED + 1}-of-${TASKS}.jsonl`);
  const killedPlan = inShard(plan(), { index: KILLED + 1, count: TASKS });
  assert.ok(killedPlan.length >= 3, 'the cancelled shard has runs left to cancel');

  // Cancel the task once it has finished a run and has more to do.
  const deadline = Date.now() + 120_000;
  while (fullLines(killedFile) < 1) {
    assert.ok(Date.now() < deadline, `array task ${KILLED} wrote no run in 120 s`);
    await sleep(50);
  }
  await slurm.command('scancel', `${jobId}_${KILLED}`);
  await slurm.waitForJob(jobId, 180_000);
  assert.equal(await slurm.jobState(`${jobId}_${KILLED}`), 'CANCELLED');
  const linesWhenCancelled = fullLines(killedFile);
  assert.ok(linesWhenCancelled < killedPlan.length, `the task was cancelled mid-run (${linesWhenCancelled} of ${killedPlan.length} runs written)`);

  const status = async () =>
    (JSON.parse(await pmoeIn(dir, 'status', 'results', ...SETTINGS.flatMap((pair) => ['--set', pair]), '--json')) as ExperimentStatus[])[0];
  const before = await status();
  assert.equal(before.experiment, 'fig4');
  assert.equal(before.planned, plan().length);
  assert.deepEqual(
    before.shards.map((row) => [row.shard?.index, row.missing]),
    [1, 2, 3].map((index) => [index, index === KILLED + 1 ? killedPlan.length - linesWhenCancelled : 0]),
  );

  // The resubmitted index runs the same shard (the script pins the count) and resumes its file.
  const rerunId = (await slurm.command('sbatch', '--parsable', `--array=${KILLED}`, script)).trim().split(';')[0];
  await slurm.waitForJob(rerunId, 180_000);
  assert.equal(await slurm.jobState(`${rerunId}_${KILLED}`), 'COMPLETED');
  assert.ok(
    (await readdir(join(dir, 'logs'))).some((name) => name === `pmoe-fig4-${rerunId}_${KILLED}.out`),
    'the rerun has its own log',
  );
  const killedLines = (await loadResultsFile(killedFile)).lines;
  assert.deepEqual(killedLines.map((line) => line.key).sort(), killedPlan.map(({ key }) => key).sort(), 'the resumed shard holds each of its runs once');

  const after = await status();
  assert.deepEqual([after.done, after.failed, after.missing], [plan().length, 0, 0]);

  const shardFiles = (await readdir(join(dir, 'results'))).filter((name) => /^fig4\.shard-\d-of-3\.jsonl$/.test(name)).map((name) => join('results', name));
  assert.equal(shardFiles.length, TASKS);
  await pmoeIn(dir, 'merge', ...shardFiles, '--out', 'results/fig4.jsonl');
  const merged = (await loadResultsFile(join(dir, 'results', 'fig4.jsonl'), { keepAllFields: true })).lines;
  const planned = plan();
  assert.deepEqual(merged.map((line) => line.key).sort(), planned.map(({ key }) => key).sort(), 'every planned run exactly once');
  for (const line of merged) {
    assert.equal(line.status, 'ok');
    assert.equal(runKey(line.spec), line.key, 'the spec is the one the key names');
    const spec = planned.find(({ key }) => key === line.key)!.spec as PatchRunSpec;
    assert.ok(line.status === 'ok' && isPatchLine(line));
    const record = line.record;
    assert.equal(record.training.model, spec.training?.model);
    assert.equal(record.training.seed, spec.training?.seed);
    assert.equal(record.data.trainSize, spec.data.trainSize);
    assert.equal(record.epochs.length, 1, 'one evaluation (evalEvery = epochs)');
    const accuracy = record.finalTestAccuracy;
    assert.ok(accuracy !== null && accuracy >= 0 && accuracy <= 1);
  }
});
