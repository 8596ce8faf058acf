import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartRows, chartSpec, SERIES_COLOURS } from '../../src/report/chart-spec.js';
import { buildExperimentReport } from '../../src/report/experiment-report.js';
import { figureViewFor } from '../../src/report/figure-views.js';
import { machineAtReportTime } from '../../src/report/machine.js';
import { renderSvg } from '../../src/report/render-svg.js';
import type { AggregatedPoint } from '../../src/report/statistics.js';
import { fig4Lines, okLine } from '../support/report-fixtures.js';

const context = { sources: ['fixture'], generatedAt: new Date(0), machine: machineAtReportTime(), regenerate: 'pmoe report fixture --out out' };

/** The text of every legend label in a Vega SVG. */
function legendLabels(svg: string): string[] {
  return [...svg.matchAll(/class="mark-text role-legend-label"[^>]*>((?:<text[^>]*>[^<]*<\/text>)*)<\/g>/g)].flatMap(([, texts]) =>
    [...texts.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map(([, text]) => text.replace(/&amp;/g, '&')),
  );
}

/** How many marks of a layer the SVG holds: a line layer draws one group per series. */
function layerGroups(svg: string, layer: string): number {
  return svg.split(`role-mark ${layer}_marks"`).length - 1;
}

function pathsIn(svg: string, layer: string): number {
  let count = 0;
  for (const part of svg.split(`role-mark ${layer}_marks"`).slice(1)) count += (part.slice(0, part.indexOf('</g>')).match(/<path /g) ?? []).length;
  return count;
}

describe('report figures', () => {
  it('fig4: one solid curve per model with error bars, one dashed paper curve per model, and both in the legend', async () => {
    const lines = fig4Lines({ cnn: [80, 90, 95], separate: [85, 93, 96], joint: [88, 94, 96] }, [100, 500, 1000]);
    const view = figureViewFor('fig4');
    const report = buildExperimentReport('fig4', lines, view, context);
    const { svg, warnings } = await renderSvg(chartSpec(view, report.points));
    assert.deepEqual(warnings, []);
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.deepEqual(legendLabels(svg), ['CNN', 'separate pMoE', 'joint pMoE', 'pmoe: mean ± 1 std', 'paper, Fig. 4 (read off)']);
    assert.equal(layerGroups(svg, 'ours_lines'), 3);
    assert.equal(pathsIn(svg, 'ours_lines'), 3);
    assert.equal(layerGroups(svg, 'paper_lines'), 3);
    assert.equal(pathsIn(svg, 'paper_points'), 18, 'the paper gives 6 N for each of 3 models');
    assert.equal(pathsIn(svg, 'ours_points'), 9);
    assert.ok(svg.includes('ours_error_bars'), 'error bars drawn');
    assert.match(svg, /stroke-dasharray="6,4"/, 'the paper curves are dashed');
    // Same colour for ours and the paper's per model: CNN's colour appears on both line layers.
    const cnnColour = SERIES_COLOURS[0];
    for (const layer of ['ours_lines', 'paper_lines']) {
      const part = svg.split(`role-mark ${layer}_marks"`)[1];
      assert.ok(part.slice(0, part.indexOf('</g>')).includes(`stroke="${cnnColour}"`), `${layer} uses the CNN colour`);
    }
  });

  it('the spec is plain data: it survives JSON and renders the same', async () => {
    const lines = fig4Lines({ cnn: [80], separate: [85], joint: [88] }, [100]);
    const view = figureViewFor('fig4');
    const spec = chartSpec(view, buildExperimentReport('fig4', lines, view, context).points);
    const copy = JSON.parse(JSON.stringify(spec));
    assert.deepEqual(copy, spec);
    assert.equal((await renderSvg(copy)).svg, (await renderSvg(spec)).svg);
  });

  it('fig8: one curve per l, paper points at N_r = 300', async () => {
    const rates = Array.from({ length: 16 }, (_, i) => Math.min(1, 0.8 + i / 50));
    const lines = [100, 300, 1000].flatMap((trainSize) =>
      [0, 1].map((seed) => okLine('fig8', { model: 'separate', trainSize, seed, epochs: 0, routerRates: rates })),
    );
    const view = figureViewFor('fig8');
    const { svg } = await renderSvg(chartSpec(view, buildExperimentReport('fig8', lines, view, context).points));
    assert.deepEqual(legendLabels(svg).slice(0, 5), ['l = 1', 'l = 2', 'l = 4', 'l = 6', 'l = 8']);
    assert.equal(layerGroups(svg, 'ours_lines'), 5);
    assert.equal(pathsIn(svg, 'paper_points'), 5);
  });

  it('fig5 draws shares without error bars', async () => {
    const lines = [400, 900].flatMap((trainSize) =>
      [0, 1].map((seed) => okLine('fig5', { model: 'separate', trainSize, seed, patchesPerExpert: 2, accuracy: trainSize > 500 ? 0.97 : 0.9 })),
    );
    const view = figureViewFor('fig5');
    const { svg } = await renderSvg(chartSpec(view, buildExperimentReport('fig5', lines, view, context).points));
    assert.ok(!svg.includes('ours_error_bars'));
    assert.ok(legendLabels(svg).includes('pmoe: share of trials'));
  });
});

describe('error bars', () => {
  it("stay inside the measure's range: a percentage's ±1 std is clipped to [0, 100]", () => {
    const view = figureViewFor('fig9');
    const point: AggregatedPoint = { series: 'class 1 (y = +1)', x: 100, mean: 72.8, std: 39.5, count: 5, seeds: [0, 1, 2, 3, 4], values: [] };
    const { ours } = chartRows(view, [point]);
    assert.equal(ours[0].low, 72.8 - 39.5);
    assert.equal(ours[0].high, 100);
    const unbounded = chartRows({ ...view, valueBounds: undefined }, [point]);
    assert.ok(Math.abs(unbounded.ours[0].high! - 112.3) < 1e-9);
  });
});
