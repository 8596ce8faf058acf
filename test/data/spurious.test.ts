import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PatchDataset } from '../../src/data/dataset.js';
import { fashionMnistAvailable } from '../../src/data/fashion-mnist.js';
import { loadImageData, planImageData } from '../../src/data/image-source.js';
import { loadMnist } from '../../src/data/mnist.js';
import { composeMnistPatchPool, composeSpuriousPool, validateMnistPatchConfig, type MnistPatchPool } from '../../src/data/mnist-patch.js';
import { composeMnistQuadrants } from '../../src/data/mnist-quadrants.js';
import { loadData, planData } from '../../src/data/source.js';
import { spuriousValues, type SpuriousLayout } from '../../src/data/spurious.js';
import { createSyntheticModel, makeSyntheticSplit, validateSyntheticConfig } from '../../src/data/synthetic.js';
import { createRng } from '../../src/util/random.js';
import { OptionError } from '../../src/util/options.js';

/** Share of images carrying their own class's item. */
function ownItemShare(labels: ArrayLike<number>, values: ArrayLike<number>): number {
  let own = 0;
  for (let i = 0; i < labels.length; i++) if (values[i] === labels[i]) own++;
  return own / labels.length;
}

/** |measured - s| within 4 binomial standard deviations of a share measured on `count` images. */
function assertNearStrength(measured: number, strength: number, count: number, what: string): void {
  const sd = Math.sqrt((strength * (1 - strength)) / count);
  assert.ok(Math.abs(measured - strength) <= 4 * sd, `${what}: measured co-occurrence ${measured} vs s = ${strength} (4 sd = ${(4 * sd).toFixed(4)})`);
}

/** Images per (class, item) group. */
function groupCounts(labels: ArrayLike<number>, values: ArrayLike<number>, classes: number): number[] {
  const counts = new Array<number>(classes * classes).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i] * classes + values[i]]++;
  return counts;
}

function assertBalanced(labels: ArrayLike<number>, layout: SpuriousLayout, classes: number): void {
  const counts = groupCounts(labels, layout.values, classes);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `groups ${counts.join(', ')} are not balanced`);
}

function assertReversed(labels: ArrayLike<number>, layout: SpuriousLayout, classes: number): void {
  const counts = groupCounts(labels, layout.values, classes);
  for (let c = 0; c < classes; c++) assert.equal(counts[c * classes + c], 0, `class ${c} images carry their own item in the reversed set`);
  const others = counts.filter((_, g) => Math.floor(g / classes) !== g % classes);
  assert.ok(Math.max(...others) - Math.min(...others) <= 1, `reversed groups ${others.join(', ')} are not spread evenly`);
}

function samePatchData(a: PatchDataset, b: PatchDataset): void {
  assert.equal(a.count, b.count);
  assert.ok(
    Buffer.from(a.patches.buffer, a.patches.byteOffset, a.patches.byteLength).equals(Buffer.from(b.patches.buffer, b.patches.byteOffset, b.patches.byteLength)),
  );
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(a.discriminativePatch, b.discriminativePatch);
}

describe('spurious assignments', () => {
  const labelsOf = (count: number, classes: number) => Int32Array.from({ length: count }, (_, i) => i % classes);
  for (const classes of [2, 4]) {
    it(`training: the share of images with their own class's item matches s (${classes} classes), the others spread over the other items`, () => {
      const labels = labelsOf(20_000, classes);
      for (const s of [0.5, 0.8, 0.95, 0.99]) {
        const values = spuriousValues(labels, classes, 'training', s, createRng(`test:${s}`));
        assertNearStrength(ownItemShare(labels, values), s, labels.length, `s = ${s}`);
        const counts = groupCounts(labels, values, classes);
        for (let c = 0; c < classes; c++) {
          const others = counts.slice(c * classes, (c + 1) * classes).filter((_, j) => j !== c);
          const expected = ((1 - s) * (labels.length / classes)) / (classes - 1);
          for (const count of others) assert.ok(Math.abs(count - expected) <= 5 * Math.sqrt(expected) + 1, `class ${c}: ${others.join(', ')} vs ${expected}`);
        }
      }
    });
    it(`balanced: every (class, item) group within one image of the others, exactly equal when they divide (${classes} classes)`, () => {
      for (const count of [1000, 1003]) {
        const labels = labelsOf(count, classes);
        const values = spuriousValues(labels, classes, 'balanced', 0.99, createRng('balanced'));
        assertBalanced(labels, { values, patch: new Int32Array(count) }, classes);
      }
      const values = spuriousValues(labelsOf(1600, classes), classes, 'balanced', 0.99, createRng('balanced'));
      assert.deepEqual(new Set(groupCounts(labelsOf(1600, classes), values, classes)), new Set([1600 / classes / classes]));
    });
    it(`reversed: no image carries its own class's item (${classes} classes)`, () => {
      const labels = labelsOf(1000, classes);
      const values = spuriousValues(labels, classes, 'reversed', 0.8, createRng('reversed'));
      assertReversed(labels, { values, patch: new Int32Array(1000) }, classes);
      if (classes === 2) for (let i = 0; i < labels.length; i++) assert.equal(values[i], 1 - labels[i]);
    });
  }
});

describe('spurious feature in the synthetic data model', () => {
  const config = { d: 16, n: 16, p: 8, deltaD: 0.3, deltaR: 0.15, noise: 0.5, confusers: 0, seed: 3 };

  it('s = 0.5 reproduces the data drawn without a spurious feature, bit for bit', () => {
    const plain = makeSyntheticSplit(config, 300, 200);
    const half = makeSyntheticSplit({ ...config, spuriousStrength: 0.5 }, 300, 200);
    samePatchData(half.train, plain.train);
    samePatchData(half.test, plain.test);
    assert.equal(half.train.spurious, undefined);
    assert.deepEqual(half.model.patterns, plain.model.patterns);
    assert.deepEqual(half.model.centres, plain.model.centres);
  });

  it('spurious patterns: v and -v, unit, orthogonal to the class patterns and the set centres', () => {
    const model = createSyntheticModel({ ...config, spuriousStrength: 0.9 });
    const [v, minusV] = model.spuriousPatterns!;
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((sum, x, i) => sum + x * b[i], 0);
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-6);
    assert.deepEqual(
      Array.from(minusV),
      Array.from(v, (x) => -x),
    );
    for (const other of [...model.patterns, ...model.centres]) assert.ok(Math.abs(dot(v, other)) < 1e-6);
  });

  it('training co-occurrence matches s; test sets balanced and reversed; each spurious patch is its pattern, placed off the class patch', () => {
    const s = 0.9;
    const split = makeSyntheticSplit({ ...config, spuriousStrength: s }, 4000, 1000);
    const model = split.model;
    const { train } = split;
    assertNearStrength(ownItemShare(train.labels, train.spurious!.values), s, train.count, 'synthetic training set');
    const { balanced, reversed } = split.spurious!;
    assertBalanced(balanced.labels, balanced.spurious!, 2);
    assertReversed(reversed.labels, reversed.spurious!, 2);
    for (const set of [train, balanced, reversed]) {
      for (let i = 0; i < set.count; i++) {
        const at = set.spurious!.patch[i];
        assert.notEqual(at, set.discriminativePatch[i]);
        const patch = set.patches.subarray((i * set.patchCount + at) * set.patchDim, (i * set.patchCount + at + 1) * set.patchDim);
        assert.deepEqual(patch, model.spuriousPatterns![set.spurious!.values[i]]);
      }
    }
    // The balanced and reversed sets are the test samples with one irrelevant patch replaced: the same images otherwise.
    const size = balanced.patchCount * balanced.patchDim;
    for (let i = 0; i < balanced.count; i++) {
      for (let j = 0; j < balanced.patchCount; j++) {
        if (j === balanced.spurious!.patch[i]) continue;
        const from = i * size + j * balanced.patchDim;
        const cell = (data: PatchDataset) => data.patches.subarray(from, from + data.patchDim);
        assert.deepEqual(cell(balanced), cell(split.test));
        assert.deepEqual(cell(reversed), cell(split.test));
      }
    }
  });

  it('refuses a strength outside 0.5..1, spuriousItems, and a d too small for the spurious patterns', () => {
    assert.throws(() => validateSyntheticConfig({ spuriousStrength: 0.3 }), /spuriousStrength must be a number in 0.5..1/);
    assert.throws(() => validateSyntheticConfig({ spuriousItems: [1, 2] } as never), /spuriousItems must not be given/);
    assert.throws(() => validateSyntheticConfig({ d: 8, p: 8, spuriousStrength: 0.9 }), /d must be an integer >= 11 with spuriousStrength set/);
    assert.throws(() => planData({ source: 'synthetic', trainSize: 10, spuriousStrength: 1.5 }), OptionError);
  });
});

describe('spurious feature in MNIST-patch and Fashion-patch', () => {
  const options = { trainCount: 4000, testCount: 1000, spuriousItems: [6, 7] };

  it('s = 0.5 reproduces the pools and the data drawn without a spurious feature, bit for bit', async () => {
    const [train, test] = await Promise.all([loadMnist('train'), loadMnist('test')]);
    for (const mnist of [train, test]) {
      const plain = composeMnistPatchPool(mnist, { trainCount: 4000, testCount: 1000 });
      const half = composeMnistPatchPool(mnist, { ...options, spuriousStrength: 0.5 });
      assert.deepEqual(half.cells, plain.cells);
      assert.deepEqual(half.labels, plain.labels);
      assert.deepEqual(half.discriminativePatch, plain.discriminativePatch);
    }
    const sources = ['mnist-patch', ...(fashionMnistAvailable() ? ['fashion-patch' as const] : [])] as const;
    for (const source of sources) {
      const plain = await loadData({ source, trainSize: 100, sampleSeed: 2 });
      const half = await loadData({ source, trainSize: 100, sampleSeed: 2, spuriousStrength: 0.5 });
      samePatchData(half.train, plain.train);
      samePatchData(half.test, plain.test);
      assert.ok(half.spurious, `${source}: the spurious test sets are made at s = 0.5`);
      assert.equal(plain.spurious, undefined);
    }
  });

  /** The digit in each cell of image i of a pool. */
  const digitsOf = (pool: MnistPatchPool, i: number) =>
    Array.from(pool.cells.subarray(i * pool.patchCount, (i + 1) * pool.patchCount), (index) => pool.mnist.labels[index]);

  it('training co-occurrence matches s; the items appear in the spurious cell only, the class digit in its own', async () => {
    const mnist = await loadMnist('train');
    for (const s of [0.8, 0.99]) {
      const pool = composeMnistPatchPool(mnist, { ...options, spuriousStrength: s });
      assertNearStrength(ownItemShare(pool.labels, pool.spurious!.values), s, pool.count, `MNIST-patch pool at s = ${s}`);
      for (let i = 0; i < pool.count; i++) {
        const digits = digitsOf(pool, i);
        const at = pool.spurious!.patch[i];
        assert.notEqual(at, pool.discriminativePatch[i]);
        assert.equal(digits[pool.discriminativePatch[i]], [1, 0][pool.labels[i]]);
        assert.equal(digits[at], [6, 7][pool.spurious!.values[i]]);
        assert.equal(digits.filter((d) => d === 6 || d === 7).length, 1, `image ${i}: cells ${digits.join(' ')}`);
      }
    }
  });

  it('the test sets: balanced over class x item, reversed, the same images but for the spurious cell', async () => {
    const mnist = await loadMnist('test');
    const config = validateMnistPatchConfig({ ...options, spuriousStrength: 0.95 });
    const balanced = composeSpuriousPool(mnist, config, 'balanced');
    const reversed = composeSpuriousPool(mnist, config, 'reversed');
    assert.deepEqual(groupCounts(balanced.labels, balanced.spurious!.values, 2), [250, 250, 250, 250]);
    assertReversed(reversed.labels, reversed.spurious!, 2);
    assert.deepEqual(reversed.labels, balanced.labels);
    assert.deepEqual(reversed.spurious!.patch, balanced.spurious!.patch);
    for (let i = 0; i < balanced.count; i++) {
      for (let j = 0; j < balanced.patchCount; j++) {
        if (j !== balanced.spurious!.patch[i]) assert.equal(reversed.cells[i * 16 + j], balanced.cells[i * 16 + j]);
      }
    }
    const loaded = await loadData({ source: 'mnist-patch', trainSize: 200, spuriousStrength: 0.95, spuriousItems: [6, 7], testCount: 1000 });
    assert.deepEqual(loaded.spurious!.balanced.spurious!.values, balanced.spurious!.values);
    assert.deepEqual(loaded.spurious!.itemNames, ['digit 6', 'digit 7']);
  });

  it('refuses spurious items that are not fill digits, repeat, or leave no other filler', () => {
    assert.throws(() => validateMnistPatchConfig({ spuriousItems: [6, 1] }), /spuriousItems: must be fill digits \(2, 3, 4, 5, 6, 7, 8, 9\); 1 is not/);
    assert.throws(() => validateMnistPatchConfig({ spuriousItems: [6, 6] }), /must not repeat/);
    assert.throws(() => validateMnistPatchConfig({ spuriousItems: [6] }), /one item per class \(2\)/);
    assert.throws(() => validateMnistPatchConfig({ fillDigits: [6, 7], spuriousItems: [6, 7] }), /at least one fill digit that is not a spurious item/);
    assert.throws(() => validateMnistPatchConfig({ spuriousStrength: 0.2 }), /spuriousStrength: must be a finite number >= 0.5 and <= 1/);
    assert.deepEqual(validateMnistPatchConfig({ spuriousStrength: 0.9 }).spuriousItems, [6, 7]);
    assert.deepEqual(validateMnistPatchConfig({}, 'fashion'), validateMnistPatchConfig({}));
    assert.deepEqual(validateMnistPatchConfig({ spuriousStrength: 0.9 }, 'fashion').spuriousItems, [3, 9]);
  });
});

describe('spurious feature in MNIST and Fashion-MNIST quadrants', () => {
  it('s = 0.5 reproduces the images drawn without a spurious feature, bit for bit', async () => {
    const sources = ['mnist-quadrants', ...(fashionMnistAvailable() ? ['fashion-quadrants' as const] : [])] as const;
    for (const source of sources) {
      const plain = await loadImageData({ source, trainSize: 200, seed: 1, testSize: 200 });
      const half = await loadImageData({ source, trainSize: 200, seed: 1, testSize: 200, spuriousStrength: 0.5 });
      assert.deepEqual(half.train, plain.train);
      assert.deepEqual(half.test, plain.test);
      assert.ok(half.spurious);
      assert.deepEqual((planImageData({ source, trainSize: 10, spuriousStrength: 0.9 }).spec as { spuriousItems?: number[] }).spuriousItems, [4, 5, 6, 7]);
    }
  });

  it('training co-occurrence matches s; the test sets are balanced over 4 classes x 4 items and reversed', async () => {
    const mnist = await loadMnist('train');
    const s = 0.8;
    const built = composeMnistQuadrants(mnist, { count: 4000, seed: 2, spurious: { items: [4, 5, 6, 7], assignment: 'training', strength: s } });
    assertNearStrength(ownItemShare(built.labels, built.spurious!.values), s, built.labels.length, 'quadrants');
    for (let i = 0; i < built.labels.length; i++) {
      const q = built.spurious!.patch[i];
      assert.notEqual(q, built.quadrants[i]);
      const digits = [0, 1, 2, 3].map((k) => mnist.labels[built.sources[4 * i + k]]);
      assert.equal(digits[q], 4 + built.spurious!.values[i]);
      assert.equal(digits.filter((d) => d >= 4 && d <= 7).length, 1);
    }
    const data = await loadImageData({ source: 'mnist-quadrants', trainSize: 100, testSize: 1600, spuriousStrength: 0.99 });
    const { balanced, reversed } = data.spurious!;
    assert.deepEqual(new Set(groupCounts(balanced.labels, balanced.spurious.values, 4)), new Set([100]));
    assertReversed(reversed.labels, reversed.spurious, 4);
    assert.deepEqual(reversed.objectPatch, balanced.objectPatch);
  });

  it('refuses spurious items that are not fillers', () => {
    assert.throws(() => planImageData({ source: 'mnist-quadrants', trainSize: 10, spuriousItems: [0, 4, 5, 6] }), /spuriousItems: must be filler digits/);
    assert.throws(() => planImageData({ source: 'mnist-quadrants', trainSize: 10, spuriousItems: [4, 5] }), /one item per class \(4\)/);
  });
});
