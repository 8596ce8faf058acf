import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildExperimentReport } from '../../src/report/experiment-report.js';
import { figureViewFor } from '../../src/report/figure-views.js';
import { mergeResultLines, mergeResultsFiles } from '../../src/report/merge-results.js';
import { aggregate, sampleStd } from '../../src/report/statistics.js';
import { machineAtReportTime } from '../../src/report/machine.js';
import { failedLine, fig4Lines, okLine, tempDir, writeResults } from '../support/report-fixtures.js';

const context = { sources: ['fixture'], generatedAt: new Date(0), machine: machineAtReportTime(), regenerate: 'pmoe report fixture --out out' };

describe('report aggregation', () => {
  it('sample std uses n - 1 and is null for a single run', () => {
    assert.ok(Math.abs(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])! - 2.138089935) < 1e-9);
    assert.equal(sampleStd([3]), null);
    assert.equal(sampleStd([]), null);
  });

  it('groups by (series, x): mean, std, count and seeds per group, series in the given order', () => {
    const observations = [
      { series: 'b', x: 2, value: 10, seed: 1, key: 'k1' },
      { series: 'a', x: 1, value: 1, seed: 2, key: 'k2' },
      { series: 'a', x: 1, value: 3, seed: 0, key: 'k3' },
      { series: 'b', x: 1, value: 5, seed: 0, key: 'k4' },
    ];
    const points = aggregate(observations, ['b', 'a']);
    assert.deepEqual(
      points.map((p) => [p.series, p.x, p.mean, p.std, p.count, p.seeds]),
      [
        ['b', 1, 5, null, 1, [0]],
        ['b', 2, 10, null, 1, [1]],
        ['a', 1, 2, Math.SQRT2, 2, [0, 2]],
      ],
    );
  });

  it('fig4 lines aggregate to the per-model means and std over seeds, in percent', () => {
    const lines = fig4Lines({ cnn: [80, 90], separate: [85, 93], joint: [88, 94] }, [100, 300]);
    const report = buildExperimentReport('fig4', lines, figureViewFor('fig4'), context);
    assert.equal(report.points.length, 6);
    const cnn300 = report.points.find((p) => p.series === 'CNN' && p.x === 300)!;
    assert.ok(Math.abs(cnn300.mean - 90) < 1e-9);
    assert.ok(Math.abs(cnn300.std! - 1) < 1e-9);
    assert.equal(cnn300.count, 3);
    assert.deepEqual(cnn300.seeds, [0, 1, 2]);
    assert.deepEqual([...new Set(report.points.map((p) => p.series))], ['CNN', 'separate pMoE', 'joint pMoE']);
  });

  it('shards are merged and a run in two files counts once; a failure rerun successfully counts as the success', async () => {
    const dir = await tempDir();
    try {
      const lines = fig4Lines({ cnn: [80, 90], separate: [85, 93], joint: [88, 94] }, [100, 300]);
      const rerun = { model: 'joint' as const, trainSize: 500, seed: 0 };
      const first = await writeResults(dir, 'a.jsonl', [...lines.slice(0, 12), failedLine('fig4', rerun, 'worker process ended')]);
      const second = await writeResults(dir, 'b.jsonl', [...lines.slice(8), okLine('fig4', { ...rerun, accuracy: 0.95 })]);
      const merged = await mergeResultsFiles([first, second]);
      assert.equal(merged.duplicatesDropped, 5, '4 shared lines and the failed run');
      const fig4 = merged.byExperiment.get('fig4')!;
      assert.equal(fig4.length, 19);
      assert.equal(fig4.filter((line) => line.status === 'failed').length, 0);
      const report = buildExperimentReport('fig4', fig4, figureViewFor('fig4'), context);
      assert.equal(report.points.find((p) => p.series === 'joint pMoE' && p.x === 500)?.count, 1);
      assert.ok(
        report.points.every((p) => p.x === 500 || p.count === 3),
        'no seed counted twice',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the same run spec filed under two experiments stays in both (fig4 joint runs are fig9 runs)', () => {
    const run = { model: 'joint' as const, trainSize: 300, seed: 0, accuracy: 0.94, perClass: [0.95, 0.92] };
    const merged = mergeResultLines([{ path: 'x.jsonl', lines: [okLine('fig4', run), okLine('fig9', run)], tornLines: 0 }]);
    assert.deepEqual([...merged.byExperiment.keys()], ['fig4', 'fig9']);
    assert.equal(merged.duplicatesDropped, 0);
  });

  it('experiment-specific numbers: fig5 success share, fig8 rate at each l, fig9 per class', () => {
    const fig5 = buildExperimentReport(
      'fig5',
      [0.96, 0.94, 0.95, 0.99].map((accuracy, seed) => okLine('fig5', { model: 'separate', trainSize: 500, seed, patchesPerExpert: 4, accuracy })),
      figureViewFor('fig5'),
      context,
    );
    assert.deepEqual(
      fig5.points.map((p) => [p.series, p.x, p.mean, p.count]),
      [['l = 4', 500, 0.75, 4]],
    );
    const strict = buildExperimentReport('fig5', fig5Lines(), figureViewFor('fig5', { successAccuracy: 0.97 }), context);
    assert.equal(strict.points[0].mean, 0.25);

    const rates = Array.from({ length: 16 }, (_, i) => (i + 1) / 16);
    const fig8 = buildExperimentReport(
      'fig8',
      [okLine('fig8', { model: 'separate', trainSize: 300, seed: 0, epochs: 0, routerRates: rates })],
      figureViewFor('fig8'),
      context,
    );
    assert.deepEqual(
      fig8.points.map((p) => [p.series, p.x, p.mean]),
      [1, 2, 4, 6, 8].map((l) => [`l = ${l}`, 300, (100 * l) / 16]),
    );
    assert.deepEqual(fig8.warnings, [], 'NaN final accuracy of a router-only run is not a fig8 number');

    const fig9 = buildExperimentReport(
      'fig9',
      [okLine('fig9', { model: 'joint', trainSize: 300, seed: 0, accuracy: 0.9, perClass: [0.9, 0.8] })],
      figureViewFor('fig9'),
      context,
    );
    assert.deepEqual(
      fig9.points.map((p) => [p.series, p.mean]),
      [
        ['class 1 (y = +1)', 90],
        ['class 2 (y = -1)', 80],
      ],
    );
    const paperClass2 = fig9.comparisons.find((c) => c.series === 'class 2 (y = -1)')!;
    assert.equal(paperClass2.paper, 92);
    assert.equal(paperClass2.difference, -12);
  });

  it('runs of different settings at the same point (a quick and a full sweep merged) are flagged', () => {
    const lines = [
      okLine('fig4', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }),
      okLine('fig4', { model: 'cnn', trainSize: 100, seed: 0, epochs: 20, accuracy: 0.7 }),
    ];
    const report = buildExperimentReport('fig4', lines, figureViewFor('fig4'), context);
    assert.equal(report.points[0].count, 2);
    assert.match(report.warnings.join('\n'), /CNN, N = 100: seed 0 appears more than once/);
    assert.match(report.warnings.join('\n'), /runs differ in epochs \(150, 20\)/);
  });

  it('a run whose number is NaN (written as null) is left out with a warning, not averaged in', () => {
    const lines = [okLine('fig4', { model: 'cnn', trainSize: 100, seed: 0, accuracy: 0.8 }), okLine('fig4', { model: 'cnn', trainSize: 100, seed: 1 })];
    const parsed = mergeResultLines([{ path: 'x', lines: JSON.parse(JSON.stringify(lines)), tornLines: 0 }]);
    const report = buildExperimentReport('fig4', parsed.byExperiment.get('fig4')!, figureViewFor('fig4'), context);
    assert.equal(report.points[0].count, 1);
    assert.match(report.warnings.join('\n'), /cnn N=100 seed=1 .*no finite value/);
  });
});

function fig5Lines() {
  return [0.96, 0.94, 0.95, 0.99].map((accuracy, seed) => okLine('fig5', { model: 'separate', trainSize: 500, seed, patchesPerExpert: 4, accuracy }));
}
