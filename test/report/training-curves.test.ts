import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { epochLogHooks } from '../../src/training/epoch-log.js';
import { readEpochLogs, trainingCurvesSection } from '../../src/report/html/training-curves.js';

const metrics = (epoch: number) => ({ epoch, trainLoss: 1 / epoch, trainAccuracy: 0.5 + epoch / 100, testLoss: 2 / epoch, testAccuracy: 0.4 + epoch / 100 });

describe('training curves from per-epoch logs', () => {
  it('reads every run written by epochLogHooks (a torn last line skipped) and draws them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-curves-'));
    try {
      for (const run of ['a', 'b']) {
        const hooks = epochLogHooks(dir, run);
        for (let epoch = 1; epoch <= 3; epoch++) hooks.onEpoch!('model', epoch, 3, epoch === 2 && run === 'b' ? undefined : metrics(epoch));
      }
      await appendFile(join(dir, 'b.jsonl'), '{"run":"b","epo');
      const lines = await readEpochLogs(dir);
      assert.deepEqual(
        lines.map((line) => `${line.run}${line.epoch}`),
        ['a1', 'a2', 'a3', 'b1', 'b3'],
      );
      const section = await trainingCurvesSection(dir);
      assert.match(section!.html, /5 evaluated epochs of 2 runs/);
      const spec = section!.specs[0].spec as unknown as { data: { values: { run: string; testAccuracy: number }[] }; hconcat: unknown[] };
      assert.equal(spec.data.values.length, 5);
      assert.equal(spec.hconcat.length, 2);
      assert.equal(spec.data.values[2].testAccuracy, metrics(3).testAccuracy);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a file that is not an epoch log, or a missing folder, is an error naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-curves-'));
    try {
      await writeFile(join(dir, 'x.jsonl'), '{"loss":1}\n');
      await assert.rejects(readEpochLogs(dir), /x\.jsonl line 1 is not an epoch log line/);
      await assert.rejects(readEpochLogs(join(dir, 'absent')), /cannot read the log folder .*absent: it does not exist/);
      await mkdir(join(dir, 'empty'));
      assert.equal(await trainingCurvesSection(join(dir, 'empty')), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
