import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ReportInputError } from '../../src/report/load-results.js';
import { writeReport } from '../../src/report/report.js';
import { okLine, tempDir, writeResults } from '../support/report-fixtures.js';

async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const good = () => [
  okLine('fig4', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }),
  okLine('fig4', { model: 'cnn', trainSize: 100, seed: 1, accuracy: 0.82 }),
];

function rejectsNaming(promise: Promise<unknown>, pattern: RegExp) {
  return assert.rejects(promise, (error: Error) => {
    assert.ok(error instanceof ReportInputError, `a ReportInputError, got ${error.name}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('report inputs', () => {
  it('a missing results file is an error naming it', () =>
    inTempDir(async (dir) => {
      const present = await writeResults(dir, 'present.jsonl', good());
      const missing = join(dir, 'fig4.shard2of2.jsonl');
      await rejectsNaming(writeReport([present, missing], join(dir, 'out')), new RegExp(`results file not found: ${missing.replace(/[.]/g, '\\.')}`));
    }));

  it('a line that is not JSON, in the middle of a file, is an error naming file and line', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'broken.jsonl');
      const [a, b] = good();
      await writeFile(path, `${JSON.stringify(a)}\nthis is not json\n${JSON.stringify(b)}\n`);
      await rejectsNaming(writeReport([path], join(dir, 'out')), /results file .*broken\.jsonl, line 2: not JSON/);
    }));

  it('JSON that is not a result line is an error naming file, line and field', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'other.jsonl');
      const [a] = good();
      await writeFile(path, `${JSON.stringify(a)}\n${JSON.stringify({ key: 'k', experiment: 'fig4', status: 'ok', spec: a.spec })}\n`);
      await rejectsNaming(writeReport([path], join(dir, 'out')), /other\.jsonl, line 2: not a pmoe result line \(record: /);
      const csv = join(dir, 'table.csv');
      await writeFile(csv, 'N,accuracy\n100,0.8\n');
      await rejectsNaming(writeReport([csv], join(dir, 'out')), /table\.csv, line 1: not JSON/);
    }));

  it('impossible values and runs filed under the wrong experiment are refused, every bad line listed', () =>
    inTempDir(async (dir) => {
      const path = join(dir, 'edited.jsonl');
      const [a, b] = good();
      const rate = (value: number) =>
        JSON.parse(JSON.stringify(okLine('fig4', { model: 'joint', trainSize: 100, seed: 2, accuracy: 0.9, perClass: [0.5, 0.5] })), (key, v) =>
          key === 'rate' ? value : v,
        );
      const negative = JSON.parse(JSON.stringify(a), (key, v) => (key === 'trainSize' ? -100 : v));
      const fig8 = { ...okLine('fig8', { model: 'separate', trainSize: 100, seed: 0, epochs: 0, routerRates: [0.9, 0.8] }), experiment: 'fig4' };
      await writeResults(dir, 'edited.jsonl', [b, rate(7), rate(-5), negative, fig8]);
      await rejectsNaming(
        writeReport([path], join(dir, 'out')),
        new RegExp(
          [
            'edited\\.jsonl: 4 bad lines',
            'line 2: not a pmoe result line \\(record\\.routingRate\\.rate: Too big: expected number to be <=1 \\(got 7\\)\\)',
            'line 3: .*record\\.routingRate\\.rate: Too small: expected number to be >=0 \\(got -5\\)',
            'line 4: .*spec\\.data\\.trainSize: .*>=1 \\(got -100\\).*record\\.data\\.trainSize',
            'line 5: not a pmoe result line \\(fig4 runs train their models \\(training\\.epochs >= 1\\); this one trains the routers alone, as fig8 runs do\\)',
          ].join('.*\n.*'),
        ),
      );
      await assert.rejects(readFile(join(dir, 'out', 'fig4.md')), { code: 'ENOENT' });
    }));

  it('a directory, no files, or files with no lines are errors', () =>
    inTempDir(async (dir) => {
      await mkdir(join(dir, 'results'));
      await rejectsNaming(writeReport([join(dir, 'results')], join(dir, 'out')), /results file .*results is not a file/);
      await rejectsNaming(writeReport([], join(dir, 'out')), /no results files given/);
      const empty = join(dir, 'empty.jsonl');
      await writeFile(empty, '');
      await rejectsNaming(writeReport([empty], join(dir, 'out')), /no result lines in .*empty\.jsonl/);
    }));

  it('a torn last line (a kill mid-write) is dropped with a warning naming the file', () =>
    inTempDir(async (dir) => {
      const path = await writeResults(dir, 'torn.jsonl', good());
      await appendFile(path, '{"key":"abc","experiment":"fig4","sta');
      const summary = await writeReport([path], join(dir, 'out'));
      assert.equal(summary.experiments[0].okRuns, 2);
      assert.deepEqual(
        summary.inputs.map((i) => i.tornLines),
        [1],
      );
      assert.match(summary.warnings.join('\n'), /torn\.jsonl: dropped a torn last line/);
    }));
});
