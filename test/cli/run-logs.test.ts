import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));
const pmoe = (...args: string[]) => run(process.execPath, [bin, ...args], { timeout: 300_000 });

async function logLines(dir: string): Promise<{ file: string; lines: Record<string, unknown>[]; csv: string[] }[]> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.jsonl')).sort();
  return Promise.all(
    files.map(async (file) => ({
      file,
      lines: (await readFile(join(dir, file), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
      csv: (await readFile(join(dir, file.replace(/\.jsonl$/, '.csv')), 'utf8')).trim().split('\n'),
    })),
  );
}

describe('run records and per-epoch logs of pmoe train and reproduce', () => {
  it('train --json: provenance and the resolved model; --log-dir: one line per evaluated epoch, and a CSV beside it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-train-log-'));
    try {
      const { stdout } = await pmoe(
        'train',
        '--train-size',
        '30',
        '--test-size',
        '30',
        '--epochs',
        '4',
        '--eval-every',
        '2',
        '--backend',
        'wasm',
        '--json',
        '--log-dir',
        join(dir, 'logs'),
      );
      const record = JSON.parse(stdout);
      const { provenance } = record;
      assert.match(provenance.pmoeVersion, /^\d+\.\d+\.\d+/);
      assert.equal(provenance.node, process.version);
      assert.match(provenance.tfjs.core, /^\d+\.\d+\.\d+$/);
      assert.deepEqual(provenance.backend.name, 'wasm');
      assert.equal(typeof provenance.host, 'string');
      assert.ok(Date.parse(provenance.startedAt) <= Date.parse(provenance.endedAt));
      // Defaults filled in: the joint model's k = 8, l = 6, m/k = 5, so m = 40.
      assert.deepEqual([record.model.experts, record.model.patchesPerExpert, record.model.neuronsPerExpert, record.model.neurons], [8, 6, 5, 40]);

      const [log, ...others] = await logLines(join(dir, 'logs'));
      assert.equal(others.length, 0);
      assert.deepEqual(
        log.lines.map((line) => line.epoch),
        [2, 4],
      );
      assert.deepEqual(
        log.lines.map((line) => line.testAccuracy),
        record.epochs.map((e: { testAccuracy: number }) => e.testAccuracy),
      );
      assert.ok(log.lines.every((line) => typeof line.wallTimeMs === 'number' && line.phase === 'model'));
      assert.equal(log.csv.length, 3);
      assert.match(
        log.csv[0],
        /^run,phase,epoch,epochs,trainLoss,trainAccuracy,testLoss,testAccuracy,routingRate,wallTimeMs,time,patchesPerExpert,untakenPatches,emptyPairs,idleExperts,droppedPerPatch,importanceLoss,loadLoss,zLoss$/,
      );
      // The joint model's router, every evaluated epoch: 8 experts of 6 patches per image.
      const perExpert = log.lines.map((line) => (line.utilisation as { patchesPerExpert: number[] } | undefined)?.patchesPerExpert);
      assert.deepEqual(perExpert, [Array(8).fill(6), Array(8).fill(6)]);
      assert.equal(log.csv[1].split(',')[11], '6;6;6;6;6;6;6;6');
      assert.deepEqual(record.utilisation.patchesPerExpert, [6, 6, 6, 6, 6, 6, 6, 6]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reproduce --log-dir: a log per run, named by its key in the results file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-reproduce-log-'));
    try {
      const out = join(dir, 'fig4.jsonl');
      await pmoe(
        'reproduce',
        'fig4',
        '--out',
        out,
        '--jobs',
        '1',
        '--set',
        'sizes=[20]',
        '--set',
        'models=["joint","cnn"]',
        '--set',
        'seeds=1',
        '--set',
        'epochs=2',
        '--set',
        'evalEvery=1',
        '--set',
        'testCount=50',
        '--log-dir',
        join(dir, 'logs'),
        '--json',
      );
      const results = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { key: string; record: { epochs: unknown[]; provenance: { startedAt: string } } });
      assert.equal(results.length, 2);
      const logs = await logLines(join(dir, 'logs'));
      assert.deepEqual(
        logs.map((log) => log.file),
        results.map((line) => `${line.key}.jsonl`).sort(),
      );
      for (const log of logs)
        assert.deepEqual(
          log.lines.map((line) => line.epoch),
          [1, 2],
        );
      assert.ok(results.every((line) => typeof line.record.provenance.startedAt === 'string'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
