import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResultLine } from '../../src/experiments/results-file.js';
import { pairAtlasCells, pairAtlasChartSpec, pairCorrelations } from '../../src/report/pair-atlas-report.js';
import { renderSvg } from '../../src/report/render-svg.js';

function line(pair: [number, number], model: string, trainSize: number, seed: number, accuracy: number, rate?: number): ResultLine {
  const record = {
    data: { source: 'mnist-patch', trainSize, discriminativeDigits: [pair[1], pair[0]] },
    model: { patchesPerExpert: 2 },
    training: { model, epochs: 20, seed },
    finalTestAccuracy: accuracy,
    wallTimeMs: 1000,
    ...(rate === undefined ? {} : { routingRate: { rate, perClass: [rate, rate], samples: 100 } }),
  };
  return { key: `${pair}-${model}-${trainSize}-${seed}`, experiment: 'pair-atlas', status: 'ok', spec: {} as never, record: record as never };
}

describe('pair-atlas report', () => {
  it('averages seeds per pair and N, takes margins against the CNN, and correlates predictors with the routing rate', () => {
    const lines = [
      line([0, 1], 'cnn', 300, 0, 0.8),
      line([0, 1], 'cnn', 300, 1, 0.9),
      line([0, 1], 'separate', 300, 0, 0.95, 0.9),
      line([0, 1], 'separate', 300, 1, 0.93, 0.8),
      line([0, 1], 'joint', 300, 0, 0.97),
      line([4, 9], 'cnn', 300, 0, 0.7),
      line([4, 9], 'separate', 300, 0, 0.6, 0.3),
      line([3, 5], 'separate', 300, 0, 0.7, 0.5),
    ];
    const cells = pairAtlasCells(lines);
    const first = cells.find((c) => c.pair[0] === 0 && c.pair[1] === 1)!;
    assert.ok(Math.abs(first.accuracy.cnn! - 85) < 1e-9);
    assert.ok(Math.abs(first.separateRoutingRate! - 85) < 1e-9);
    assert.ok(Math.abs(first.separateMargin! - 9) < 1e-9);
    assert.ok(Math.abs(first.jointMargin! - 12) < 1e-9);
    assert.deepEqual(first.runs, { cnn: 2, separate: 2, joint: 1 });
    const noCnn = cells.find((c) => c.pair[0] === 3)!;
    assert.equal(noCnn.separateMargin, null);

    // A predictor that orders the pairs as their routing rates do: Spearman 1.
    const predictors = [
      { pair: [0, 1] as const, meanDirectionRate: 0.9, projectionMargin: 2 },
      { pair: [4, 9] as const, meanDirectionRate: 0.2, projectionMargin: -1 },
      { pair: [3, 5] as const, meanDirectionRate: 0.4, projectionMargin: 0.5 },
    ];
    const correlations = pairCorrelations(cells, predictors);
    assert.equal(correlations.length, 2);
    for (const c of correlations) {
      assert.equal(c.pairs, 3);
      assert.ok(Math.abs(c.spearman! - 1) < 1e-12);
      assert.ok(c.pearson! > 0.9);
    }
  });

  it('draws a heat map per N and metric that renders to SVG', async () => {
    const cells = pairAtlasCells([
      line([0, 1], 'cnn', 300, 0, 0.8),
      line([0, 1], 'separate', 300, 0, 0.9, 0.7),
      line([2, 7], 'cnn', 1000, 0, 0.8),
      line([2, 7], 'separate', 1000, 0, 0.7, 0.4),
    ]);
    const spec = pairAtlasChartSpec({ cells, predictors: [], title: 'atlas' });
    const { svg, warnings } = await renderSvg(spec);
    assert.deepEqual(warnings, []);
    assert.match(svg, /separate pMoE's routing rate \(%\), N = 300/);
    assert.match(svg, /separate pMoE − CNN \(points\), N = 1000/);
  });
});
