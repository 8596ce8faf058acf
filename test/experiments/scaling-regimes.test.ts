import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { regimeSettings, SCALING_REGIMES } from '../../src/experiments/scaling-regimes.js';
import { scalingCells, scalingSpec } from '../../src/experiments/scaling.js';
import { ratioVerdict } from '../../src/report/scaling-regimes-report.js';
import type { ScalingFit } from '../../src/report/scaling-report.js';

describe('scaling regimes', () => {
  it('each regime changes its one setting from the shared grid; a --set applies to all but cannot undo a regime', () => {
    const all = regimeSettings({ seeds: 2 }, false);
    assert.deepEqual(
      all.map((r) => r.regime.name),
      SCALING_REGIMES.map((r) => r.name),
    );
    const byName = Object.fromEntries(all.map((r) => [r.regime.name, r.settings]));
    assert.ok(all.every((r) => r.settings.seeds === 2 && r.settings.patchCounts.join() === '8,16,32'));
    assert.equal(byName.baseline.noise, 0.5);
    assert.equal(byName['noise-high'].noise, 1);
    assert.equal(byName['delta-r-low'].deltaR, 0.05);
    assert.equal(byName.confusers.confusers, 1);
    assert.throws(() => regimeSettings({ noise: 2 }, false), /would change what regime 'noise-low' varies/);
    assert.throws(() => regimeSettings({ regimes: ['gravity'] }, false), /regimes\.0: must be one of 'baseline'/);
    assert.deepEqual(
      regimeSettings({ regimes: ['confusers'] }, true).map((r) => r.regime.name),
      ['confusers'],
    );
  });

  it('steps-with-n trains every N for the same epochs; the others keep the step budget fixed', () => {
    const byName = Object.fromEntries(regimeSettings({}, false).map((r) => [r.regime.name, r.settings]));
    const cell = scalingCells(byName['steps-with-n']).cells[0];
    assert.deepEqual(
      [16, 256].map((N) => scalingSpec(byName['steps-with-n'], cell, N, 0).training?.epochs),
      [20, 20],
    );
    assert.deepEqual(
      [16, 256].map((N) => scalingSpec(byName.baseline, cell, N, 0).training?.epochs),
      [400, 31],
    ); // ceil(400 / ceil(256 / 20))
    // Confusers raise l* to 2: l = 2 and 4 remain, none below.
    assert.ok(scalingCells(byName.confusers).cells.every((c) => c.l === null || c.l >= 2));
  });

  it('a ratio grows or falls only when its whole interval is on one side of 0', () => {
    const fit = (interval: [number, number] | null) =>
      ({ fit: interval ? { slope: (interval[0] + interval[1]) / 2, slopeInterval: interval } : null }) as unknown as ScalingFit;
    assert.equal(ratioVerdict(fit([0.1, 0.9])), 'grows');
    assert.equal(ratioVerdict(fit([-0.9, -0.1])), 'falls');
    assert.equal(ratioVerdict(fit([-0.2, 0.5])), 'no significant dependence');
    assert.equal(ratioVerdict(fit(null)), 'no fit');
  });
});
