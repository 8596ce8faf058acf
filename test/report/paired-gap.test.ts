import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ImageOkLine } from '../../src/report/load-results.js';
import { pairedGaps } from '../../src/report/paired-gap.js';

/** The fields pairedGaps reads, as a results line. */
function line(architecture: string, trainSize: number, seed: number, testAccuracy: number, trainAccuracy: number): ImageOkLine {
  return {
    key: `${architecture}-${trainSize}-${seed}`,
    record: {
      model: { architecture },
      data: { trainSize },
      training: { seed },
      finalTestAccuracy: testAccuracy,
      epochs: [{ trainAccuracy: 0 }, { trainAccuracy }],
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
