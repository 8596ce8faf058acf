import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitPowerLaw, powerLawAt } from '../../src/analysis/power-law.js';
import { studentTCdf, studentTQuantile } from '../../src/analysis/student-t.js';
import { freshRng } from '../support/random.js';

const close = (actual: number, expected: number, tolerance: number, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} is not within ${tolerance} of ${expected}`);

describe("Student's t quantile", () => {
  it('matches published two-sided 95% and 99% critical values', () => {
    const table: [number, number, number][] = [
      // dof, t_0.975, t_0.995
      [1, 12.7062, 63.6567],
      [2, 4.3027, 9.9248],
      [3, 3.1824, 5.8409],
      [5, 2.5706, 4.0321],
      [10, 2.2281, 3.1693],
      [30, 2.0423, 2.75],
      [1000, 1.9623, 2.5808],
    ];
    for (const [dof, t975, t995] of table) {
      close(studentTQuantile(0.975, dof), t975, 1e-3, `t_0.975(${dof})`);
      close(studentTQuantile(0.995, dof), t995, 1e-3, `t_0.995(${dof})`);
      close(studentTQuantile(0.025, dof), -t975, 1e-3, `t_0.025(${dof})`);
      close(studentTCdf(studentTQuantile(0.9, dof), dof), 0.9, 1e-9, `cdf(quantile) at ${dof}`);
    }
    assert.equal(studentTQuantile(0.5, 4), 0);
    close(studentTCdf(0, 7), 0.5, 1e-12);
    assert.throws(() => studentTQuantile(1, 3), /probability/);
    assert.throws(() => studentTQuantile(0.9, 0), /degrees of freedom/);
  });
});

describe('fitPowerLaw: log N = a + b log(n/l)', () => {
  it('recovers slope and intercept of an exact power law, with a zero-width interval', () => {
    const points = [1, 2, 4, 8, 16].map((x) => ({ x, y: 30 * x ** 1.7 }));
    const fit = fitPowerLaw(points);
    close(fit.slope, 1.7, 1e-12, 'slope');
    close(fit.intercept, Math.log(30), 1e-12, 'intercept');
    close(fit.rSquared!, 1, 1e-12, 'R^2');
    assert.ok(fit.slopeInterval[1] - fit.slopeInterval[0] < 1e-9);
    assert.equal(fit.degreesOfFreedom, 3);
    close(powerLawAt(fit, 32), 30 * 32 ** 1.7, 1e-6 * 30 * 32 ** 1.7, 'prediction');
  });

  it('with noise: the interval covers the true slope about as often as it says, and narrows with more points', () => {
    const rng = freshRng('power-law');
    const trueSlope = 2.5;
    const noisyLaw = (count: number) =>
      Array.from({ length: count }, (_, i) => {
        const x = 2 ** (1 + (6 * i) / (count - 1));
        return { x, y: 5 * x ** trueSlope * Math.exp(0.3 * rng.normal()) };
      });
    const trials = 400;
    let covered = 0;
    const width = { few: 0, many: 0 };
    for (let t = 0; t < trials; t++) {
      const few = fitPowerLaw(noisyLaw(5));
      const many = fitPowerLaw(noisyLaw(40));
      if (few.slopeInterval[0] <= trueSlope && trueSlope <= few.slopeInterval[1]) covered++;
      width.few += few.slopeInterval[1] - few.slopeInterval[0];
      width.many += many.slopeInterval[1] - many.slopeInterval[0];
      close(many.slope, trueSlope, 0.3, 'slope from 40 points');
    }
    // 95% nominal; 400 trials give a binomial std of about 1.1 points.
    assert.ok(covered / trials > 0.91 && covered / trials < 0.99, `coverage ${covered}/${trials}`);
    assert.ok(width.many < width.few / 3, `mean width ${width.many / trials} (40 points) vs ${width.few / trials} (5 points)`);
    const six = noisyLaw(6);
    const at95 = fitPowerLaw(six);
    const at99 = fitPowerLaw(six, { confidence: 0.99 });
    assert.equal(at99.slope, at95.slope);
    assert.ok(at99.slopeInterval[0] < at95.slopeInterval[0] && at99.slopeInterval[1] > at95.slopeInterval[1], 'a higher confidence widens the interval');
  });

  it('refuses fewer than 3 points, non-positive values and a single x', () => {
    assert.throws(
      () =>
        fitPowerLaw([
          { x: 1, y: 2 },
          { x: 2, y: 4 },
        ]),
      /at least 3 points \(got 2\)/,
    );
    assert.throws(
      () =>
        fitPowerLaw([
          { x: 1, y: 2 },
          { x: 2, y: 0 },
          { x: 3, y: 4 },
        ]),
      /x > 0 and y > 0/,
    );
    assert.throws(
      () =>
        fitPowerLaw([
          { x: 4, y: 2 },
          { x: 4, y: 3 },
          { x: 4, y: 5 },
        ]),
      /two distinct x/,
    );
    assert.throws(
      () =>
        fitPowerLaw(
          [
            { x: 1, y: 2 },
            { x: 2, y: 3 },
            { x: 3, y: 5 },
          ],
          { confidence: 1 },
        ),
      /confidence/,
    );
  });
});
