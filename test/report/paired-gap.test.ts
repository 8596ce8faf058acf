import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ImageOkLine } from '../../src/report/load-results.js';
import { pairedGaps } from '../../src/report/paired-gap.js';

/** The fields pairedGaps reads, as a results line. */
function line(architecture: string, trainSize: number, seed: number, testAccuracy: number, trainAccuracy: number, testCurve = [0, testAccuracy]): ImageOkLine {
  return {
    key: `${architecture}-${trainSize}-${seed}`,
    record: {
      model: { architecture },
      data: { trainSize },
      training: { seed },
      finalTestAccuracy: testAccuracy,
      epochs: testCurve.map((accuracy, i) => ({ trainAccuracy: i === testCurve.length - 1 ? trainAccuracy : 0, testAccuracy: accuracy })),
    },
  } as unknown as ImageOkLine;
}

it('pairs the two models by seed at each N: mean difference, its 95% t interval, last-epoch training accuracy', () => {
  const differences = [0.05, 0.01, 0.03]; // WRN-pMoE - WRN per seed
  const lines = [
    ...differences.flatMap((d, seed) => [line('wrn', 100, seed, 0.6, 0.9), line('wrn-pmoe', 100, seed, 0.6 + d, 0.8)]),
    line('wrn', 100, 7, 0.5, 0.9), // no WRN-pMoE run with seed 7: left out
    line('wrn', 200, 0, 0.7, 1),
    line('wrn-pmoe', 200, 0, 0.75, 1),
  ];
  const [at100, at200] = pairedGaps(lines);
  assert.equal(at100.x, 100);
  assert.equal(at100.pairs, 3);
  assert.ok(Math.abs(at100.meanDifference - 3) < 1e-9);
  // sd of (5, 1, 3) points is 2; t(0.975, 2) = 4.302653 (tables): half-width 4.302653 * 2 / sqrt(3).
  const half = (4.302653 * 2) / Math.sqrt(3);
  assert.ok(Math.abs(at100.interval![0] - (3 - half)) < 1e-4 && Math.abs(at100.interval![1] - (3 + half)) < 1e-4);
  assert.ok(Math.abs(at100.finalTrainAccuracy.WRN - 90) < 1e-9 && Math.abs(at100.finalTrainAccuracy['WRN-pMoE'] - 80) < 1e-9);
  assert.equal(at200.pairs, 1);
  assert.equal(at200.interval, null, 'one pair has no interval');
});

it('also pairs the mean test accuracy over the last epochs, which one collapsed final epoch moves less', () => {
  // Seed 0: WRN collapses to chance at its last epoch only; seed 1: both steady.
  const lines = [
    line('wrn', 100, 0, 0.25, 1, [0.1, 0.9, 0.9, 0.9, 0.9, 0.25]),
    line('wrn-pmoe', 100, 0, 0.9, 1, [0.1, 0.9, 0.9, 0.9, 0.9, 0.9]),
    line('wrn', 100, 1, 0.8, 1, [0.1, 0.8, 0.8, 0.8, 0.8, 0.8]),
    line('wrn-pmoe', 100, 1, 0.85, 1, [0.1, 0.85, 0.85, 0.85, 0.85, 0.85]),
  ];
  const [gap] = pairedGaps(lines);
  assert.ok(Math.abs(gap.meanDifference - (65 + 5) / 2) < 1e-9, 'final epoch: (+65 + +5) / 2');
  assert.equal(gap.steady!.epochs, 5);
  // Last 5 epochs: seed 0 WRN (0.9 * 4 + 0.25) / 5 = 0.77 against 0.9: +13; seed 1: +5.
  assert.ok(Math.abs(gap.steady!.meanDifference - (13 + 5) / 2) < 1e-9, `steady difference ${gap.steady!.meanDifference}`);
  const half = 12.706205 * (Math.abs(13 - 5) / Math.sqrt(2) / Math.sqrt(2)); // t(0.975, 1), sd of (13, 5)
  assert.ok(Math.abs(gap.steady!.interval![1] - (9 + half)) < 1e-3);
});
