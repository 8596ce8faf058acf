import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { mergeCommand } from '../../src/cli/merge.js';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { failedLine, fig4Lines, okLine, tempDir, writeResults } from '../support/report-fixtures.js';

const readLines = async (path: string) =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((text) => JSON.parse(text) as ResultLine);

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('pmoe merge', () => {
  const lines = fig4Lines({ cnn: [80, 90], separate: [85, 95], joint: [88, 96] }, [100, 500]); // 18 runs

  it('every run once, whole lines; a run given twice counts once and a success beats a failure', () =>
    withDir(async (dir) => {
      // Extra fields the report does not read (lStar) must survive the merge.
      const withExtra = lines.map((line) => (line.status === 'ok' ? { ...line, record: { ...line.record, lStar: 2 } } : line)) as ResultLine[];
      const retried = withExtra[0];
      const a = await writeResults(dir, 'fig4.shard-1-of-2.jsonl', [
        ...withExtra.slice(0, 10),
        failedLine('fig4', { model: 'cnn', trainSize: 100, seed: 9 }, 'crashed'),
      ]);
      const b = await writeResults(dir, 'fig4.shard-2-of-2.jsonl', [
        ...withExtra.slice(8),
        okLine('fig4', { model: 'cnn', trainSize: 100, seed: 9, accuracy: 0.7 }),
        retried,
      ]);
      const out = join(dir, 'merged', 'fig4.jsonl');
      const summary = await mergeCommand([a, b], out);
      assert.deepEqual([summary.experiment, summary.runs, summary.ok, summary.failed, summary.duplicatesDropped], ['fig4', 19, 19, 0, 4]);
      const merged = await readLines(out);
      assert.deepEqual(
        merged.map((line) => line.key).sort(),
        [...new Set([...withExtra, okLine('fig4', { model: 'cnn', trainSize: 100, seed: 9 })].map((line) => line.key))].sort(),
      );
      const first = merged.find((line) => line.key === withExtra[1].key)!;
      assert.deepEqual(first, JSON.parse(JSON.stringify(withExtra[1])));
      assert.equal((await readdir(join(dir, 'merged'))).length, 1, 'no temporary left beside the merged file');
    }));

  it('refuses files of different experiments, naming them, and writes nothing', () =>
    withDir(async (dir) => {
      const a = await writeResults(dir, 'fig4.jsonl', lines.slice(0, 3));
      const b = await writeResults(dir, 'fig9.jsonl', [okLine('fig9', { model: 'joint', trainSize: 100, seed: 0, accuracy: 0.9 })]);
      const out = join(dir, 'out.jsonl');
      await assert.rejects(mergeCommand([a, b], out), (error: Error) =>
        /different experiments: fig4 \(.*fig4\.jsonl\); fig9 \(.*fig9\.jsonl\)/.test(error.message),
      );
      assert.equal((await readdir(dir)).includes('out.jsonl'), false);
    }));

  it('refuses two different records of one run, naming the files and fields; timings alone may differ', () =>
    withDir(async (dir) => {
      const run = { model: 'joint' as const, trainSize: 100, seed: 0 };
      const a = await writeResults(dir, 'a.jsonl', [okLine('fig4', { ...run, accuracy: 0.9, wallTimeMs: 10 })]);
      const sameButSlower = await writeResults(dir, 'b.jsonl', [okLine('fig4', { ...run, accuracy: 0.9, wallTimeMs: 99 })]);
      const other = await writeResults(dir, 'c.jsonl', [okLine('fig4', { ...run, accuracy: 0.8, backend: 'cpu' })]);
      assert.equal((await mergeCommand([a, sameButSlower], join(dir, 'ok.jsonl'))).runs, 1);
      await assert.rejects(
        mergeCommand([a, other], join(dir, 'bad.jsonl')),
        /1 run\(s\) have conflicting records.*a\.jsonl and .*c\.jsonl differ in backend, epochs, finalTestAccuracy/,
      );
      assert.equal((await readdir(dir)).includes('bad.jsonl'), false);
    }));

  it('a missing or foreign file is a clear error', () =>
    withDir(async (dir) => {
      await assert.rejects(mergeCommand([join(dir, 'nope.jsonl')], join(dir, 'o.jsonl')), /results file not found: .*nope\.jsonl/);
      await assert.rejects(mergeCommand([], join(dir, 'o.jsonl')), /no results files given/);
    }));
});
