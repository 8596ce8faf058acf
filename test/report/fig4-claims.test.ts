import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeCrossing, firstCrossing } from '../../src/report/crossing.js';
import { fig4Claims, fig4Finding } from '../../src/report/fig4-claims.js';
import { PAPER_FIG4 } from '../../src/experiments/paper-numbers.js';

const sizes = [100, 300, 500, 700, 900, 1000];
const curve = (means: readonly number[]) => means.map((mean, i) => ({ x: sizes[i], mean }));
const paperCurve = (model: 'cnn' | 'separate' | 'joint') => PAPER_FIG4.sizes.map((x, i) => ({ x, mean: PAPER_FIG4.accuracy[model][i] }));

describe('fig4 claims', () => {
  it('pMoE above the CNN at every N: yes, with each margin', () => {
    const claims = fig4Claims(curve([78, 89, 92, 94, 94.5, 95]), [{ model: 'separate pMoE', curve: curve([82, 92, 94, 96, 96.5, 97]) }]);
    const [separate] = claims.versus;
    assert.equal(separate.atOrAboveEverywhere, true);
    assert.deepEqual(
      separate.margins.map((m) => m.margin),
      [4, 3, 2, 2, 2, 2],
    );
    assert.ok(separate.margins.every((m) => m.atOrAbove));
    const text = fig4Finding(claims, claims, 0.6).markdown;
    assert.match(text, /\*\*separate pMoE at or above the CNN at every measured N: yes\.\*\*/);
  });

  it('pMoE below the CNN at one N: no, and that N is marked', () => {
    const claims = fig4Claims(curve([78, 89, 92, 94, 94.5, 95]), [{ model: 'joint pMoE', curve: curve([88, 94, 94.8, 93.5, 95, 96]) }]);
    const [joint] = claims.versus;
    assert.equal(joint.atOrAboveEverywhere, false);
    assert.deepEqual(
      joint.margins.filter((m) => !m.atOrAbove).map((m) => [m.samples, m.margin]),
      [[700, -0.5]],
    );
    const text = fig4Finding(claims, claims, 0.6).markdown;
    assert.match(text, /joint pMoE at or above the CNN at every measured N: no\./);
    assert.match(text, /\| 700 \| 94\.00 \| 93\.50 \| -0\.50 \| no \|/);
  });

  it('equal accuracy counts as "at or above"', () => {
    const claims = fig4Claims(curve([80, 90]), [{ model: 'p', curve: curve([80, 90]) }]);
    assert.equal(claims.versus[0].atOrAboveEverywhere, true);
  });

  it('samples needed: linear interpolation between the measured N around the CNN accuracy at N = 1000', () => {
    // CNN reaches 95 at N = 1000; pMoE goes 94 -> 96 between N = 500 and 700: 600 samples, 60%.
    const claims = fig4Claims(curve([78, 89, 92, 94, 94.5, 95]), [{ model: 'separate pMoE', curve: curve([82, 92, 94, 96, 96.5, 97]) }]);
    assert.equal(claims.cnnAtReference, 95);
    const [needed] = claims.samplesToMatch;
    assert.deepEqual(needed.crossing, { kind: 'interpolated', x: 600, from: 500, to: 700 });
    assert.equal(needed.samples, 600);
    assert.equal(needed.fraction, 0.6);
    assert.match(fig4Finding(claims, claims, 0.6).markdown, /\| separate pMoE \| 600 \(interpolated between N = 500 and 700\) \| 60% \|/);
  });

  it("on the paper's own Figure 4 values the computation gives about 61% (separate) and 65% (joint)", () => {
    const claims = fig4Claims(paperCurve('cnn'), [
      { model: 'separate', curve: paperCurve('separate') },
      { model: 'joint', curve: paperCurve('joint') },
    ]);
    assert.equal(claims.cnnAtReference, 95.2);
    const [separate, joint] = claims.samplesToMatch;
    assert.ok(Math.abs(separate.samples! - (500 + (0.5 / 0.9) * 200)) < 1e-9);
    assert.ok(Math.abs(joint.samples! - 650) < 1e-9);
    assert.equal(Math.round(100 * separate.fraction!), 61);
    assert.ok(claims.versus.every((v) => v.atOrAboveEverywhere));
  });

  it('"not reached within the measured N" when pMoE never reaches the CNN accuracy at N = 1000', () => {
    const claims = fig4Claims(curve([78, 89, 92, 94, 94.5, 95]), [{ model: 'joint pMoE', curve: curve([80, 90, 93, 94, 94.5, 94.9]) }]);
    const [needed] = claims.samplesToMatch;
    assert.equal(needed.crossing.kind, 'not-reached');
    assert.equal(needed.samples, null);
    assert.equal(needed.fraction, null);
    assert.match(fig4Finding(claims, claims, 0.6).markdown, /not reached within the measured N \(up to 1000\)/);
  });

  it('without a CNN run at N = 1000 the report says it cannot compute the samples needed', () => {
    const claims = fig4Claims(curve([78, 89, 92]), [{ model: 'p', curve: curve([80, 90, 93]) }]);
    assert.equal(claims.cnnAtReference, null);
    assert.deepEqual(claims.samplesToMatch, []);
    assert.match(fig4Finding(claims, claims, 0.6).markdown, /cannot compute, the CNN was not measured at N = 1000/);
  });

  it('first crossing: at the first point, interpolated, first of several, or not reached', () => {
    assert.deepEqual(
      firstCrossing(
        [
          { x: 100, y: 96 },
          { x: 300, y: 97 },
        ],
        95,
      ),
      { kind: 'at-first', x: 100 },
    );
    assert.deepEqual(
      firstCrossing(
        [
          { x: 300, y: 94 },
          { x: 100, y: 90 },
          { x: 500, y: 98 },
        ],
        96,
      ),
      { kind: 'interpolated', x: 400, from: 300, to: 500 },
    );
    assert.deepEqual(
      firstCrossing(
        [
          { x: 1, y: 0 },
          { x: 2, y: 1 },
          { x: 3, y: 0 },
          { x: 4, y: 1 },
        ],
        0.5,
      ),
      { kind: 'interpolated', x: 1.5, from: 1, to: 2 },
    );
    assert.deepEqual(firstCrossing([{ x: 1, y: 0 }], 0.5), { kind: 'not-reached', largestX: 1 });
    assert.match(describeCrossing({ kind: 'at-first', x: 100 }, 'N'), /at most 100/);
  });
});
