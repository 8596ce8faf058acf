import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SYNTHETIC_DEFAULTS,
  NEAR_CENTRE_FRACTION,
  createSyntheticModel,
  delta,
  makeSyntheticSplit,
  validateSyntheticConfig,
  type SyntheticConfig,
  type SyntheticModel,
} from '../../src/data/synthetic.js';
import type { PatchDataset } from '../../src/data/dataset.js';

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function patchOf(data: PatchDataset, sample: number, position: number): Float32Array {
  const start = (sample * data.patchCount + position) * data.patchDim;
  return data.patches.subarray(start, start + data.patchDim);
}

function sameVector(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** l* recounted here from the definition, independently of the generator's own bookkeeping. */
function recountLStar(data: PatchDataset, patterns: readonly Float32Array[], deltaD: number): number {
  const threshold = (1 - deltaD) / 2;
  let most = 0;
  for (let i = 0; i < data.count; i++) {
    let close = 0;
    for (let j = 0; j < data.patchCount; j++) {
      if (j === data.discriminativePatch[i]) continue;
      const q = patchOf(data, i, j);
      let isClose = false;
      for (let a = 0; a < patterns.length; a++) {
        for (let b = a + 1; b < patterns.length; b++) {
          if (Math.abs(dot(patterns[a], q) - dot(patterns[b], q)) > threshold) isClose = true;
        }
      }
      if (isClose) close++;
    }
    most = Math.max(most, close);
  }
  return 1 + most;
}

/** Index of the set centre closest to q (the sets are small balls, so this recovers the set). */
function nearestSet(model: SyntheticModel, q: ArrayLike<number>): number {
  let best = 0;
  for (let s = 1; s < model.centres.length; s++) if (dot(model.centres[s], q) > dot(model.centres[best], q)) best = s;
  return best;
}

function refuses(config: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(() => validateSyntheticConfig(config as Partial<SyntheticConfig>), pattern);
}

const model = createSyntheticModel({});
const data = model.sample(2000, 1);

test('defaults are filled and frozen', () => {
  assert.deepEqual(validateSyntheticConfig(), SYNTHETIC_DEFAULTS);
  assert.deepEqual(validateSyntheticConfig({ n: 8 }), { ...SYNTHETIC_DEFAULTS, n: 8 });
  assert.ok(Object.isFrozen(SYNTHETIC_DEFAULTS));
});

test('shapes, unit norms and dataset fields', () => {
  const { d, n } = SYNTHETIC_DEFAULTS;
  assert.equal(data.count, 2000);
  assert.equal(data.patchCount, n);
  assert.equal(data.patchDim, d);
  assert.equal(data.classes, 2);
  assert.equal(data.patches.length, 2000 * n * d);
  assert.equal(data.labels.length, 2000);
  assert.equal(data.discriminativePatch.length, 2000);
  for (let i = 0; i < data.count; i++) {
    for (let j = 0; j < n; j++) {
      const q = patchOf(data, i, j);
      assert.ok(Math.abs(Math.sqrt(dot(q, q)) - 1) < 1e-6, `patch ${i}/${j} is not unit`);
    }
  }
  for (const v of [...model.patterns, ...model.centres]) assert.ok(Math.abs(dot(v, v) - 1) < 1e-6);
});

test('<o_1, o_2> = delta_d', () => {
  for (const deltaD of [0.3, -0.5, 0, 0.95]) {
    const m = createSyntheticModel({ deltaD, seed: 3 });
    assert.ok(Math.abs(dot(m.patterns[0], m.patterns[1]) - deltaD) < 1e-6, `deltaD ${deltaD}`);
  }
});

test('near centres lean 0.9 delta_r towards alternating patterns; far centres are orthogonal to them', () => {
  const { p, deltaR } = SYNTHETIC_DEFAULTS;
  assert.equal(model.nearSetCount, Math.ceil(p / 2));
  for (let s = 0; s < p; s++) {
    const along = model.patterns.map((o) => dot(o, model.centres[s]));
    if (s < model.nearSetCount) {
      const sign = s % 2 === 0 ? 1 : -1; // even near sets on o_1's side, odd ones on o_2's
      assert.ok(Math.abs(along[0] - sign * NEAR_CENTRE_FRACTION * deltaR) < 1e-6, `set ${s}: ${along}`);
      assert.ok(Math.abs(along[1] + sign * NEAR_CENTRE_FRACTION * deltaR) < 1e-6, `set ${s}: ${along}`);
    } else {
      for (const a of along) assert.ok(Math.abs(a) < 1e-6, `far set ${s}: ${along}`);
    }
  }
});

test('every irrelevant patch satisfies |<o_i, q>| <= delta_r', () => {
  for (const [m, set] of [
    [model, data],
    [createSyntheticModel({ deltaR: 0.2, noise: 0.5, seed: 9 }), undefined],
  ] as const) {
    const sample = set ?? m.sample(500, 2);
    for (let i = 0; i < sample.count; i++) {
      for (let j = 0; j < sample.patchCount; j++) {
        if (j === sample.discriminativePatch[i]) continue;
        for (const o of m.patterns) assert.ok(Math.abs(dot(o, patchOf(sample, i, j))) <= m.config.deltaR);
      }
    }
  }
});

test('exactly one patch per sample is its class pattern, at discriminativePatch', () => {
  for (let i = 0; i < data.count; i++) {
    const found: number[] = [];
    for (let j = 0; j < data.patchCount; j++) {
      const q = patchOf(data, i, j);
      if (model.patterns.some((o) => sameVector(o, q))) found.push(j);
    }
    assert.deepEqual(found, [data.discriminativePatch[i]]);
    assert.ok(sameVector(patchOf(data, i, found[0]), model.patterns[data.labels[i]]));
  }
});

test('labels are balanced', () => {
  const counts = [0, 0];
  for (const y of data.labels) counts[y]++;
  assert.deepEqual(counts, [1000, 1000]);
  const odd = model.sample(101, 4);
  const oddCounts = [0, 0];
  for (const y of odd.labels) oddCounts[y]++;
  assert.equal(oddCounts[0] + oddCounts[1], 101);
  assert.equal(Math.abs(oddCounts[0] - oddCounts[1]), 1);
  // Shuffled, not sorted.
  assert.ok(data.labels.slice(0, 100).some((y) => y === 1) && data.labels.slice(0, 100).some((y) => y === 0));
});

test('the discriminative patch position is uniform over n', () => {
  const large = model.sample(4000, 5);
  const n = large.patchCount;
  const counts = new Array<number>(n).fill(0);
  for (const j of large.discriminativePatch) counts[j]++;
  const expected = large.count / n;
  const chiSquare = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 15 degrees of freedom: P(chi^2 > 37.7) = 0.001.
  assert.ok(chiSquare < 37.7, `chi-square ${chiSquare} for counts ${counts}`);
});

test('same seed gives identical data, another seed different data', () => {
  const again = createSyntheticModel({}).sample(2000, 1);
  assert.ok(sameVector(again.patches, data.patches));
  assert.ok(sameVector(again.labels, data.labels));
  assert.ok(sameVector(again.discriminativePatch, data.discriminativePatch));
  const otherSample = model.sample(2000, 2);
  assert.ok(!sameVector(otherSample.patches, data.patches));
  const otherModel = createSyntheticModel({ seed: 1 });
  assert.ok(!sameVector(otherModel.patterns[0], model.patterns[0]));
  assert.ok(!sameVector(otherModel.sample(2000, 1).patches, data.patches));
});

test('lStar equals an independent recount', () => {
  assert.equal(data.lStar, recountLStar(data, model.patterns, model.config.deltaD));
  const wide = createSyntheticModel({ deltaD: 0.9, seed: 2 });
  const wideData = wide.sample(300, 0);
  // delta_d = 0.9 makes the threshold 0.05, so far patches become delta'-close too.
  assert.ok((wideData.lStar ?? 0) > 1 + wide.config.confusers);
  assert.equal(wideData.lStar, recountLStar(wideData, wide.patterns, 0.9));
});

test('with confusers = 0, lStar is 1', () => {
  const none = createSyntheticModel({ confusers: 0 }).sample(1000, 0);
  assert.equal(none.lStar, 1);
});

test('with delta_d 0.3, delta_r 0.6 and 3 confusers, lStar is 4', () => {
  const m = createSyntheticModel({ deltaD: 0.3, deltaR: 0.6, confusers: 3 });
  const sample = m.sample(1000, 0);
  assert.equal(sample.lStar, 4);
  assert.equal(recountLStar(sample, m.patterns, 0.3), 4);
});

test('p = 1: every irrelevant patch comes from the single set', () => {
  const m = createSyntheticModel({ p: 1 });
  assert.equal(m.nearSetCount, 1);
  const sample = m.sample(100, 0);
  // The single set is near and (here) delta'-close, so all n - 1 irrelevant patches count.
  assert.equal(sample.lStar, sample.patchCount);
});

test('irrelevant patches are distributed the same way for both classes', () => {
  const large = model.sample(4000, 6);
  const nearPerClass = [0, 0];
  const samplesPerClass = [0, 0];
  const setUse = [new Array<number>(model.centres.length).fill(0), new Array<number>(model.centres.length).fill(0)];
  for (let i = 0; i < large.count; i++) {
    const y = large.labels[i];
    samplesPerClass[y]++;
    for (let j = 0; j < large.patchCount; j++) {
      if (j === large.discriminativePatch[i]) continue;
      const set = nearestSet(model, patchOf(large, i, j));
      setUse[y][set]++;
      if (set < model.nearSetCount) nearPerClass[y]++;
    }
  }
  const means = nearPerClass.map((c, y) => c / samplesPerClass[y]);
  // Near count is uniform on 0..2: mean 1, sd of a class mean ~ 0.82 / sqrt(2000) ~ 0.018.
  for (const m of means) assert.ok(Math.abs(m - 1) < 0.08, `near mean ${m}`);
  assert.ok(Math.abs(means[0] - means[1]) < 0.08, `near means ${means}`);
  const totals = setUse.map((row) => row.reduce((a, b) => a + b, 0));
  for (let s = 0; s < model.centres.length; s++) {
    const share = setUse.map((row, y) => row[s] / totals[y]);
    assert.ok(Math.abs(share[0] - share[1]) < 0.02, `set ${s} shares ${share}`);
  }
});

test('four classes: pairwise <o_i, o_j> = delta_d, balance, bound and lStar', () => {
  const m = createSyntheticModel({ classes: 4, deltaD: 0.2, confusers: 3, seed: 7 });
  assert.equal(m.patterns.length, 4);
  for (let a = 0; a < 4; a++) {
    assert.ok(Math.abs(dot(m.patterns[a], m.patterns[a]) - 1) < 1e-6);
    for (let b = a + 1; b < 4; b++) assert.ok(Math.abs(dot(m.patterns[a], m.patterns[b]) - 0.2) < 1e-6);
  }
  const sample = m.sample(2000, 0);
  assert.equal(sample.classes, 4);
  const counts = [0, 0, 0, 0];
  for (const y of sample.labels) counts[y]++;
  assert.deepEqual(counts, [500, 500, 500, 500]);
  for (let i = 0; i < sample.count; i++) {
    assert.ok(sameVector(patchOf(sample, i, sample.discriminativePatch[i]), m.patterns[sample.labels[i]]));
    for (let j = 0; j < sample.patchCount; j++) {
      if (j === sample.discriminativePatch[i]) continue;
      for (const o of m.patterns) assert.ok(Math.abs(dot(o, patchOf(sample, i, j))) <= 0.6);
    }
  }
  assert.equal(sample.lStar, recountLStar(sample, m.patterns, 0.2));
  assert.equal(sample.lStar, 4);
});

test('each invalid parameter is refused with a message naming it, its value and the range', () => {
  refuses({ deltaD: 1 }, /deltaD must satisfy \|deltaD\| < 1 \(got 1\)/);
  refuses({ deltaD: -1.5 }, /deltaD .*\(got -1\.5\)/);
  refuses({ classes: 3, deltaD: -0.1 }, /deltaD must satisfy 0 <= deltaD < 1 when classes > 2 \(got -0\.1\)/);
  refuses({ n: 1 }, /n must be an integer >= 2 \(got 1\)/);
  refuses({ p: 0 }, /p must be an integer >= 1 \(got 0\)/);
  refuses({ deltaR: 1 }, /deltaR must satisfy 0 <= deltaR < 1 \(got 1\)/);
  refuses({ deltaR: -0.1 }, /deltaR .*\(got -0\.1\)/);
  refuses({ confusers: 16 }, /confusers must be an integer in 0\.\.n-1 = 0\.\.15 \(got 16\)/);
  refuses({ n: 4, confusers: 4 }, /confusers .*0\.\.3 \(got 4\)/);
  refuses({ foo: 1 }, /unknown option 'foo'/);
  refuses({ d: 2.5 }, /d must be an integer >= classes \+ 1 \(got 2\.5\)/);
  refuses({ classes: 4, d: 4 }, /d must be an integer >= classes \+ 1 = 5 \(got 4\)/);
  refuses({ noise: -1 }, /noise must be a finite number >= 0 \(got -1\)/);
  refuses({ noise: Infinity }, /noise .*\(got Infinity\)/);
  refuses({ classes: 1 }, /classes must be an integer >= 2 \(got 1\)/);
  refuses({ seed: 0.5 }, /seed .*\(got 0\.5\)/);
  refuses({ n: '16' }, /n must be .*\(got '16'\)/);
});

test('several invalid parameters are all named', () => {
  assert.throws(
    () => validateSyntheticConfig({ deltaD: 1, n: 1, bar: 2 } as Partial<SyntheticConfig>),
    (error: Error) => /deltaD/.test(error.message) && /\bn must/.test(error.message) && /unknown option 'bar'/.test(error.message),
  );
});

test('counts and seeds of sample and split are checked', () => {
  assert.throws(() => model.sample(0, 0), /count must be a positive integer \(got 0\)/);
  assert.throws(() => model.sample(2.5, 0), /count .*\(got 2\.5\)/);
  assert.throws(() => model.sample(10, 0.5), /seed .*\(got 0\.5\)/);
  assert.throws(() => makeSyntheticSplit({}, 10, 0), /testCount must be a positive integer/);
});

test('an unreachable delta_r is reported, not faked', () => {
  assert.throws(() => createSyntheticModel({ deltaR: 0.0001, noise: 0.3 }).sample(2, 0), /deltaR too small for noise/);
  // Without noise delta_r = 0 is reachable: far patches are their (orthogonal) centres.
  const exact = createSyntheticModel({ deltaR: 0, noise: 0, confusers: 0 }).sample(20, 0);
  assert.equal(exact.lStar, 1);
});

test('delta = 1 / (1 - max(delta_d^2, delta_r^2))', () => {
  assert.ok(Math.abs(delta() - 1 / (1 - 0.36)) < 1e-12);
  assert.ok(Math.abs(delta({ deltaD: 0.8, deltaR: 0.5 }) - 1 / (1 - 0.64)) < 1e-12);
  assert.throws(() => delta({ deltaD: 1 }), /deltaD/);
});

test('makeSyntheticSplit: two different seeded sets from one model, lStar the max', () => {
  const split = makeSyntheticSplit({ confusers: 3 }, 300, 200);
  assert.equal(split.train.count, 300);
  assert.equal(split.test.count, 200);
  assert.ok(!sameVector(split.train.patches.subarray(0, 200 * 16 * 32), split.test.patches));
  assert.equal(split.lStar, Math.max(split.train.lStar ?? 0, split.test.lStar ?? 0));
  assert.equal(split.train.lStar, recountLStar(split.train, split.model.patterns, 0.3));
  const again = makeSyntheticSplit({ confusers: 3 }, 300, 200);
  assert.ok(sameVector(again.train.patches, split.train.patches));
  assert.ok(sameVector(again.test.patches, split.test.patches));
  const reseeded = makeSyntheticSplit({ confusers: 3, seed: 1 }, 300, 200);
  assert.ok(!sameVector(reseeded.train.patches, split.train.patches));
});
