import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeCifar10 } from '../../src/data/cifar10.js';
import { DataFileError } from '../../src/data/data-file-error.js';
import { causeOfError, causeOfExit, retries } from '../../src/experiments/failure.js';
import { readResults, type ResultLine } from '../../src/experiments/results-file.js';
import { runKey } from '../../src/experiments/shard.js';
import { runSweep } from '../../src/experiments/sweep.js';
import { DivergenceError } from '../../src/training/sgd.js';
import type { RunSpec } from '../../src/training/run.js';
import { okLine } from '../support/report-fixtures.js';

const bin = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

function pmoe(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A run that diverges within a few steps (the router's linear loss at a learning rate of 1e38). */
const DIVERGING: RunSpec = {
  data: { source: 'synthetic', trainSize: 20, testSize: 40, seed: 3 },
  training: { model: 'separate', epochs: 2, routerEpochs: 5, batchSize: 2, learningRate: 1e38, seed: 3 },
};

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pmoe-retry-'));
});
after(() => rm(work, { recursive: true, force: true }));

describe('failed runs and their causes', () => {
  it('errors and worker deaths are sorted into causes; only a divergence is kept by default', () => {
    assert.equal(causeOfError(new DivergenceError('diverged at epoch 2')), 'divergence');
    assert.equal(causeOfError(new DataFileError('/d/x.bin', 'cut short', 'CIFAR-10 file')), 'data');
    assert.equal(causeOfError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })), 'data');
    assert.equal(causeOfError(new RangeError('Array buffer allocation failed')), 'out-of-memory');
    assert.equal(causeOfError(new TypeError('x is undefined')), 'error');
    assert.equal(causeOfExit('SIGKILL', ''), 'killed');
    assert.equal(causeOfExit('SIGABRT', 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'), 'out-of-memory');
    assert.equal(causeOfExit(null, 'Segmentation fault'), 'crash');
    assert.deepEqual(
      (['data', 'divergence', 'killed'] as const).map((cause) => [retries('changeable', cause), retries('all', cause), retries('none', cause)]),
      [
        [true, true, false],
        [false, true, false],
        [true, true, false],
      ],
    );
  });

  it('a divergence is kept on resume, run again with retry all, and the line keeps both attempts', async () => {
    const path = join(work, 'diverged.jsonl');
    const first = await runSweep([DIVERGING], { experiment: 't', resultsPath: path, jobs: 1, backend: 'wasm' });
    assert.equal(first.ran, 1);
    const [line] = first.lines;
    assert.ok(line.status === 'failed' && line.cause === 'divergence', JSON.stringify(line));
    const kept = await runSweep([DIVERGING], { experiment: 't', resultsPath: path, jobs: 1, backend: 'wasm' });
    assert.deepEqual([kept.ran, kept.retried], [0, 0]);
    const again = await runSweep([DIVERGING], { experiment: 't', resultsPath: path, jobs: 1, backend: 'wasm', retry: 'all' });
    assert.deepEqual([again.ran, again.retried], [1, 1]);
    const content = readResults(path);
    assert.equal(content.lines.length, 1);
    assert.equal(content.supersededLines, 0, 'the retried line replaced the failed one in the file');
    const retried = content.lines[0];
    assert.equal(retried.status, 'failed');
    assert.deepEqual(
      retried.failedAttempts?.map((attempt) => attempt.cause),
      ['divergence', 'divergence'],
    );
  });

  it('a later line replaces a failed one of the same run, never a finished one', async () => {
    const path = join(work, 'superseded.jsonl');
    const spec = DIVERGING;
    const failed: ResultLine = { key: runKey(spec), experiment: 't', status: 'failed', spec, error: 'data file cut short', cause: 'data' };
    const retried: ResultLine = { ...failed, error: 'again', cause: 'killed' };
    const finished = { ...okLine('t', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }) };
    const copy: ResultLine = { key: finished.key, experiment: 't', status: 'failed', spec: finished.spec, error: 'x', cause: 'crash' };
    await writeFile(path, [failed, finished, retried, copy].map((line) => `${JSON.stringify(line)}\n`).join(''));
    const content = readResults(path);
    assert.deepEqual(
      content.lines.map((line) => [line.key, line.status === 'failed' ? line.error : 'ok']),
      [
        [finished.key, 'ok'],
        [failed.key, 'again'],
      ],
    );
    assert.equal(content.supersededLines, 2);
  });
});

describe('pmoe reproduce with a damaged data file', () => {
  const records = 20;
  const cifar = () => {
    const pixels = Uint8Array.from({ length: records * 3072 }, (_, i) => (i * 13) % 256);
    return encodeCifar10(
      pixels,
      Array.from({ length: records }, (_, i) => i % 10),
    );
  };
  const args = (dir: string, out: string, ...more: string[]) => [
    'reproduce',
    'fig14',
    '--quick',
    '--set',
    `cifarDir=${dir}`,
    '--set',
    `cifarRecordsPerFile=${records}`,
    '--set',
    'sizes=[20]',
    '--set',
    'models=["wrn"]',
    '--set',
    'testSize=20',
    '--set',
    'epochs=1',
    '--backend',
    'wasm',
    '--out',
    out,
    ...more,
  ];

  it('exits 1 naming the cause and the file; --no-retry keeps the failure; once fixed, a rerun retries it and the line keeps the first cause', async () => {
    const dir = join(work, 'cifar');
    await mkdir(dir);
    for (const name of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch'])
      await writeFile(join(dir, `${name}.bin`), cifar());
    await writeFile(join(dir, 'data_batch_3.bin'), cifar().subarray(0, 5000));
    const out = join(work, 'fig14.jsonl');

    const failed = await pmoe(args(dir, out));
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, /fig14: 0 of 1 runs finished, 1 failed \(1 run now\)/);
    assert.match(failed.stdout, /1 failed \(data; run again on rerun\):\n\s+CIFAR-10 file .*data_batch_3\.bin/);

    const kept = await pmoe(args(dir, out, '--no-retry', '--json'));
    assert.equal(kept.code, 1, kept.stderr);
    assert.deepEqual(JSON.parse(kept.stdout), {
      experiment: 'fig14',
      resultsPath: out,
      runs: 1,
      finished: 0,
      ranNow: 0,
      retried: 0,
      failed: 1,
      failedByCause: { data: 1 },
    });

    const both = await pmoe(args(dir, out, '--no-retry', '--retry-failed'));
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--retry-failed and --no-retry contradict each other/);

    await copyFile(join(dir, 'data_batch_1.bin'), join(dir, 'data_batch_3.bin'));
    const fixed = await pmoe(args(dir, out, '--json'));
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(JSON.parse(fixed.stdout), {
      experiment: 'fig14',
      resultsPath: out,
      runs: 1,
      finished: 1,
      ranNow: 1,
      retried: 1,
      failed: 0,
      failedByCause: {},
    });
    const lines = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as ResultLine);
    assert.equal(lines.length, 1, 'the failed line was replaced');
    assert.equal(lines[0].status, 'ok');
    assert.deepEqual(
      lines[0].failedAttempts?.map((attempt) => attempt.cause),
      ['data'],
    );
    assert.match(lines[0].failedAttempts?.[0].error ?? '', /data_batch_3\.bin/);
  });
});
