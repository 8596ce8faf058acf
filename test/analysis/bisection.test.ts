import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bisection, describeThreshold, findThreshold, maxEvaluations } from '../../src/analysis/bisection.js';
import { freshRng } from '../support/random.js';

/** A monotone success share: 0 below the threshold, 1 at and above it. */
const step = (threshold: number) => (n: number) => (n >= threshold ? 1 : 0);

describe('findThreshold (bisection over N on a log scale)', () => {
  it('finds random thresholds within the relative tolerance, never below the true one, in few evaluations', async () => {
    const rng = freshRng('bisection');
    for (const tolerance of [0.05, 0.25, 0.5]) {
      const options = { low: 8, high: 4096, tolerance };
      for (let trial = 0; trial < 150; trial++) {
        // Log-uniform in (low, high]: the interior case.
        const truth = Math.min(4096, Math.max(9, Math.round(8 * 512 ** rng.next())));
        const calls: number[] = [];
        const result = await findThreshold(async (n) => {
          calls.push(n);
          return step(truth)(n);
        }, options);
        assert.equal(result.status, 'found', `truth ${truth}`);
        const threshold = result.threshold!;
        assert.ok(threshold >= truth && threshold < truth * (1 + tolerance) + 1e-9, `truth ${truth}, got ${threshold} (tolerance ${tolerance})`);
        const [lo, hi] = result.bracket;
        assert.ok(lo! < truth && truth <= hi! && hi === threshold, `bracket ${lo}..${hi} holds ${truth}`);
        assert.ok(
          calls.every((n) => Number.isInteger(n) && n >= 8 && n <= 4096),
          'every N asked is an integer in [low, high]',
        );
        assert.equal(result.evaluations, calls.length);
        assert.equal(new Set(calls).size, calls.length, 'no N is evaluated twice');
        assert.ok(result.evaluations <= maxEvaluations(options), `${result.evaluations} evaluations > bound ${maxEvaluations(options)}`);
      }
    }
    // Logarithmic: 512x range at 25% needs about log2(ln 512 / ln 1.25) + 2 = 7, not hundreds.
    assert.equal(maxEvaluations({ low: 8, high: 4096, tolerance: 0.25 }), 7);
  });

  it('exact when the tolerance is below one step: the smallest N that succeeds', async () => {
    for (const truth of [9, 10, 57, 100, 101, 255]) {
      const result = await findThreshold(step(truth), { low: 8, high: 256, tolerance: 1e-6 });
      assert.deepEqual([result.status, result.threshold, result.bracket], ['found', truth, [truth - 1, truth]]);
    }
  });

  it("'at or below low' when low already succeeds; 'not reached' when even high fails; never a threshold outside the range", async () => {
    const below = await findThreshold(step(3), { low: 8, high: 512 });
    assert.deepEqual([below.status, below.threshold, below.bracket], ['at or below low', 8, [null, 8]]);
    assert.equal(describeThreshold(below), '<= 8');

    const atLow = await findThreshold(step(8), { low: 8, high: 512 });
    assert.equal(atLow.status, 'at or below low');

    for (const truth of [513, 10_000]) {
      const above = await findThreshold(step(truth), { low: 8, high: 512 });
      assert.deepEqual([above.status, above.threshold, above.bracket], ['not reached', null, [512, null]]);
      assert.equal(describeThreshold(above), 'not reached (> 512)');
    }
    const never = await findThreshold(() => 0, { low: 8, high: 512 });
    assert.equal(never.status, 'not reached');
    const atHigh = await findThreshold(step(512), { low: 8, high: 512, tolerance: 0.01 });
    assert.deepEqual([atHigh.status, atHigh.threshold], ['found', 512]);

    // A one-point range: one evaluation either way.
    const single = await findThreshold(step(5), { low: 5, high: 5 });
    assert.deepEqual([single.status, single.threshold, single.evaluations], ['at or below low', 5, 1]);
    const singleFail = await findThreshold(step(6), { low: 5, high: 5 });
    assert.deepEqual([singleFail.status, singleFail.threshold, singleFail.evaluations], ['not reached', null, 1]);
  });

  it('uses the required share of seeds: a share of 0.6 is a failure at 0.8 and a success at 0.6', async () => {
    const share = (n: number) => (n >= 200 ? 1 : n >= 50 ? 0.6 : 0);
    const strict = await findThreshold(share, { low: 8, high: 1024, tolerance: 0.01 });
    const lenient = await findThreshold(share, { low: 8, high: 1024, tolerance: 0.01, requiredShare: 0.6 });
    assert.equal(strict.threshold, 200);
    assert.equal(lenient.threshold, 50);
  });

  it('endpoints are evaluated only when the bracket closes on them: an interior threshold never runs high', async () => {
    const calls: number[] = [];
    await findThreshold((n) => (calls.push(n), step(100)(n)), { low: 8, high: 4096, tolerance: 0.1 });
    assert.ok(!calls.includes(4096) && !calls.includes(8), `asked ${calls.join(', ')}`);
    assert.equal(calls[0], Math.round(Math.sqrt(8 * 4096)), 'the first query is the geometric midpoint');
  });

  it('the state machine replays deterministically and refuses out-of-order outcomes and bad options', () => {
    const a = new Bisection({ low: 10, high: 1000, tolerance: 0.2 });
    const b = new Bisection({ low: 10, high: 1000, tolerance: 0.2 });
    for (let n = a.next(); n !== null; n = a.next()) {
      assert.equal(b.next(), n);
      a.record(n, step(321)(n));
      b.record(n, step(321)(n));
    }
    assert.deepEqual(a.result(), b.result());
    assert.equal(a.next(), null);
    assert.throws(() => a.record(500, 1), /search is over/);
    const c = new Bisection({ low: 10, high: 1000 });
    assert.throws(() => c.record(11, 1), /expected an evaluation at N = 100/);
    assert.throws(() => c.record(100, 1.5), /share must be in \[0, 1\]/);
    assert.equal(c.result().status, 'open');
    assert.throws(() => new Bisection({ low: 100, high: 10 }), /high must be >= low/);
    assert.throws(() => new Bisection({ low: 0, high: 10 }), /low/);
    assert.throws(() => new Bisection({ low: 1, high: 10, tolerance: 0 }), /tolerance/);
  });
});
