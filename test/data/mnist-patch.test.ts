import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from '../../src/data/idx.js';
import { DataFileError } from '../../src/data/data-file-error.js';
import { loadMnist, mnistDataDir, mnistFiles, type MnistSplitName } from '../../src/data/mnist.js';
import {
  MNIST_PATCH_DEFAULTS,
  MNIST_PATCH_DIM,
  buildMnistPatchPool,
  buildMnistPatchPools,
  composeMnistPatchPool,
  materialize,
  renderImage,
  takeBalanced,
  validateMnistPatchConfig,
  type MnistPatchPool,
} from '../../src/data/mnist-patch.js';
import { OptionError } from '../../src/util/options.js';

const tempRoot = mkdtempSync(join(tmpdir(), 'pmoe-mnist-'));
after(() => rmSync(tempRoot, { recursive: true, force: true }));

// The default pools from the real MNIST files, built once and shared by the tests below.
const pools = buildMnistPatchPools();

/** Writes a split of fake MNIST into `dir`: image i is filled with the byte pixel(i); label i = labelOf(i). */
function writeFakeSplit(dir: string, split: MnistSplitName, count: number, pixel: (i: number) => number, labelOf: (i: number) => number = (i) => i % 10): void {
  const files = mnistFiles(split, dir);
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < count; i++) images.fill(pixel(i), i * 784, (i + 1) * 784);
  writeFileSync(files.images, encodeIdx({ type: 'ubyte', shape: [count, 28, 28], data: images }));
  writeFileSync(files.labels, encodeIdx({ type: 'ubyte', shape: [count], data: Uint8Array.from({ length: count }, (_, i) => labelOf(i)) }));
}

function freshDir(name: string): string {
  const dir = join(tempRoot, name);
  mkdirSync(dir);
  return dir;
}

function histogram(values: ArrayLike<number>, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[values[i]]++;
  return counts;
}

function chiSquare(counts: number[], expected: number): number {
  return counts.reduce((sum, c) => sum + ((c - expected) * (c - expected)) / expected, 0);
}

// ---------------------------------------------------------------------------------------------
// MNIST loader

test('the real MNIST files load: 60000 / 10000 images of 28x28, labels 0..9, plausible histogram', async () => {
  const [train, test] = await Promise.all([loadMnist('train'), loadMnist('test')]);
  assert.equal(train.count, 60000);
  assert.equal(test.count, 10000);
  for (const split of [train, test]) {
    assert.equal(split.rows, 28);
    assert.equal(split.cols, 28);
    assert.equal(split.images.length, split.count * 784);
    assert.equal(split.labels.length, split.count);
    assert.ok(split.imagesPath.startsWith(mnistDataDir()));
  }
  const trainHistogram = histogram(train.labels, 10);
  const testHistogram = histogram(test.labels, 10);
  for (let digit = 0; digit < 10; digit++) {
    assert.ok(trainHistogram[digit] >= 5000 && trainHistogram[digit] <= 7000, `train digit ${digit}: ${trainHistogram[digit]}`);
    assert.ok(testHistogram[digit] >= 800 && testHistogram[digit] <= 1200, `test digit ${digit}: ${testHistogram[digit]}`);
  }
  assert.equal(
    trainHistogram.reduce((a, b) => a + b),
    60000,
  );
  // MNIST's well-known first labels, a check that the files are the original ones in file order.
  assert.deepEqual([...train.labels.subarray(0, 5)], [5, 0, 4, 1, 9]);
  assert.deepEqual([...test.labels.subarray(0, 5)], [7, 2, 1, 0, 4]);
  // Ink is bright and the border is background.
  assert.equal(Math.max(...train.images.subarray(0, 784)), 255);
  assert.equal(train.images[0], 0);
});

test('loadMnist caches per process and reads from a given folder', async () => {
  assert.equal(await loadMnist('train'), await loadMnist('train'));
  const dir = freshDir('cache');
  writeFakeSplit(dir, 'test', 20, (i) => i);
  const fake = await loadMnist('test', dir);
  assert.equal(fake.count, 20);
  assert.equal(fake.images[19 * 784 + 5], 19);
  assert.equal(await loadMnist('test', dir), fake);
  assert.notEqual(fake, await loadMnist('test'));
});

async function assertMnistError(split: MnistSplitName, dir: string, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(loadMnist(split, dir), (error: unknown) => {
    assert.ok(error instanceof DataFileError, String(error));
    assert.equal(error.file, file);
    assert.ok(error.message.startsWith(`MNIST file ${file}: `), error.message);
    assert.match(error.message, problem);
    return true;
  });
}

test('loadMnist refuses malformed MNIST files, naming the file', async () => {
  const missing = freshDir('missing');
  await assertMnistError('train', missing, mnistFiles('train', missing).images, /cannot read: no such file/);

  const badShape = freshDir('bad-shape');
  writeFakeSplit(badShape, 'train', 4, () => 0);
  const files = mnistFiles('train', badShape);
  writeFileSync(files.images, encodeIdx({ type: 'ubyte', shape: [4, 27, 28], data: new Uint8Array(4 * 27 * 28) }));
  await assertMnistError('train', badShape, files.images, /expected ubyte images \[count, 28, 28\], found ubyte \[4, 27, 28\]/);
  writeFileSync(files.images, encodeIdx({ type: 'int', shape: [4, 28, 28], data: new Int32Array(4 * 784) }));
  await assertMnistError('train', badShape, files.images, /found int \[4, 28, 28\]/);

  const badLabels = freshDir('bad-labels');
  writeFakeSplit(
    badLabels,
    'test',
    5,
    () => 0,
    (i) => (i === 3 ? 10 : 1),
  );
  const labelFile = mnistFiles('test', badLabels).labels;
  await assertMnistError('test', badLabels, labelFile, /label 10 at index 3 is not a digit 0\.\.9/);
  writeFileSync(labelFile, encodeIdx({ type: 'ubyte', shape: [4], data: new Uint8Array(4) }));
  await assertMnistError('test', badLabels, labelFile, /holds 4 labels but .*t10k-images-idx3-ubyte holds 5 images/);
  writeFileSync(labelFile, encodeIdx({ type: 'ubyte', shape: [5, 1], data: new Uint8Array(5) }));
  await assertMnistError('test', badLabels, labelFile, /expected ubyte labels \[count\], found ubyte \[5, 1\]/);
  writeFileSync(labelFile, Buffer.from([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]));
  await assertMnistError('test', badLabels, labelFile, /truncated: expected 5 bytes of data, found 2/);
});

// ---------------------------------------------------------------------------------------------
// The builder on real MNIST

/** Checks every image of `pool`: one discriminative digit, at the recorded cell, matching the label. */
function checkComposition(pool: MnistPatchPool): void {
  const { discriminativeDigits, fillDigits } = pool.config;
  const n = pool.patchCount;
  for (let i = 0; i < pool.count; i++) {
    let discriminativeCells = 0;
    for (let j = 0; j < n; j++) {
      const index = pool.cells[i * n + j];
      assert.ok(Number.isInteger(index) && index >= 0 && index < pool.mnist.count);
      const digit = pool.mnist.labels[index];
      if (j === pool.discriminativePatch[i]) {
        assert.equal(digit, discriminativeDigits[pool.labels[i]], `image ${i}: discriminative cell holds ${digit}`);
        discriminativeCells++;
      } else {
        assert.ok(fillDigits.includes(digit), `image ${i} cell ${j}: digit ${digit} is not a fill digit`);
      }
      assert.ok(!discriminativeDigits.includes(digit) || j === pool.discriminativePatch[i]);
    }
    assert.equal(discriminativeCells, 1);
  }
}

test('default pools: sizes, exact class balance, one discriminative digit per image at the recorded cell', async () => {
  const { train, test } = await pools;
  assert.equal(train.count, 10000);
  assert.equal(test.count, 1000);
  assert.deepEqual(histogram(train.labels, 2), [5000, 5000]);
  assert.deepEqual(histogram(test.labels, 2), [500, 500]);
  for (const pool of [train, test]) {
    assert.equal(pool.gridSize, 4);
    assert.equal(pool.patchCount, 16);
    assert.equal(pool.classes, 2);
    assert.equal(pool.cells.length, pool.count * 16);
    checkComposition(pool);
  }
  // Paper convention: class 0 (y = +1) holds digit 1, class 1 (y = -1) digit 0.
  assert.deepEqual(train.config.discriminativeDigits, [1, 0]);
});

test('training pools draw only from MNIST training images, test pools only from test images', async () => {
  const { train, test } = await pools;
  assert.equal(train.split, 'train');
  assert.equal(test.split, 'test');
  assert.equal(train.mnist, await loadMnist('train'));
  assert.equal(test.mnist, await loadMnist('test'));
  // Every cell index is in the digit list of its own split (the lists the builder may draw from).
  for (const pool of [train, test]) {
    const allowed = new Set<number>();
    for (const digit of [...pool.config.discriminativeDigits, ...pool.config.fillDigits]) {
      for (const index of pool.digitIndices[digit]) allowed.add(index);
    }
    for (const index of pool.cells) assert.ok(allowed.has(index));
    for (let digit = 0; digit < 10; digit++) {
      for (const index of pool.digitIndices[digit]) assert.equal(pool.mnist.labels[index], digit);
    }
  }
  // Test indices stay below 10000 by construction; a training image of the test pool would show as a
  // label mismatch above. The test pool also uses indices across the whole test split.
  assert.ok(test.cells.reduce((a, b) => Math.max(a, b)) > 9000);
  assert.ok(train.cells.reduce((a, b) => Math.max(a, b)) > 50000);
  // The two pools are independent draws, not one pattern of cells reused.
  let samePosition = 0;
  for (let i = 0; i < test.count; i++) if (test.discriminativePatch[i] === train.discriminativePatch[i]) samePosition++;
  assert.ok(samePosition < 150, `${samePosition} of 1000 positions coincide`);
});

test('the builder never reads the other split: pixels come only from the split asked for', async () => {
  // Training images have bytes 0..99, test images 128..227; the training files of the second folder are absent.
  const both = freshDir('both-splits');
  writeFakeSplit(both, 'train', 200, (i) => i % 100);
  writeFakeSplit(both, 'test', 150, (i) => 128 + (i % 100));
  const { train, test } = await buildMnistPatchPools({ dir: both, trainCount: 100, testCount: 60 });
  const trainData = materialize(train);
  const testData = materialize(test);
  assert.ok(trainData.patches.every((v) => v < 128 / 255));
  assert.ok(testData.patches.every((v) => v >= 128 / 255));
  assert.ok(renderImage(test, 0).every((v) => v >= 128));

  const testOnly = freshDir('test-only');
  writeFakeSplit(testOnly, 'test', 150, (i) => 128 + (i % 100));
  const pool = await buildMnistPatchPool('test', { dir: testOnly, testCount: 60 });
  assert.equal(pool.count, 60);
  checkComposition(pool);
  await assert.rejects(buildMnistPatchPool('train', { dir: testOnly }), /train-images-idx3-ubyte: cannot read: no such file/);
});

test('the discriminative cell is near uniform over the 16 cells, fill digits near uniform (chi-square)', async () => {
  const { train } = await pools;
  const positions = histogram(train.discriminativePatch, 16);
  // 15 degrees of freedom: P(chi2 > 37.70) = 0.001.
  const positionStat = chiSquare(positions, train.count / 16);
  assert.ok(positionStat < 37.7, `position chi-square ${positionStat.toFixed(1)}: ${positions}`);

  const fillCounts = new Array<number>(10).fill(0);
  for (let i = 0; i < train.count; i++) {
    for (let j = 0; j < 16; j++) if (j !== train.discriminativePatch[i]) fillCounts[train.mnist.labels[train.cells[i * 16 + j]]]++;
  }
  // 7 degrees of freedom: P(chi2 > 24.32) = 0.001.
  const fillStat = chiSquare(fillCounts.slice(2), (train.count * 15) / 8);
  assert.ok(fillStat < 24.32, `fill-digit chi-square ${fillStat.toFixed(1)}: ${fillCounts}`);
});

test('pools are deterministic per seed and differ between seeds', async () => {
  const { train } = await pools;
  const again = composeMnistPatchPool(train.mnist, { seed: MNIST_PATCH_DEFAULTS.seed });
  assert.deepEqual(again.cells, train.cells);
  assert.deepEqual(again.labels, train.labels);
  assert.deepEqual(again.discriminativePatch, train.discriminativePatch);
  const other = composeMnistPatchPool(train.mnist, { seed: 1 });
  assert.notDeepEqual(other.cells, train.cells);
  assert.notDeepEqual(other.discriminativePatch, train.discriminativePatch);
});

test('materialize: pixel / 255 as float32 from the recorded MNIST images, patch j = cell j', async () => {
  const { train, test } = await pools;
  const chosen = [0, 17, 4999, 9999, 17];
  const data = materialize(train, chosen);
  assert.equal(data.count, chosen.length);
  assert.equal(data.patchCount, 16);
  assert.equal(data.patchDim, MNIST_PATCH_DIM);
  assert.equal(data.patchDim, 784);
  assert.equal(data.classes, 2);
  assert.equal(data.patches.length, chosen.length * 16 * 784);
  for (let s = 0; s < chosen.length; s++) {
    const i = chosen[s];
    assert.equal(data.labels[s], train.labels[i]);
    assert.equal(data.discriminativePatch[s], train.discriminativePatch[i]);
    for (let j = 0; j < 16; j++) {
      const source = train.cells[i * 16 + j] * 784;
      for (let k = 0; k < 784; k++) {
        const expected = Math.fround(train.mnist.images[source + k] / 255);
        if (data.patches[(s * 16 + j) * 784 + k] !== expected) {
          assert.fail(`sample ${i} patch ${j} value ${k}: ${data.patches[(s * 16 + j) * 784 + k]} != ${expected}`);
        }
      }
    }
  }
  const all = materialize(test);
  assert.equal(all.count, 1000);
  assert.deepEqual(all.labels, test.labels);
  assert.ok(all.patches.every((v) => v >= 0 && v <= 1));
  assert.throws(() => materialize(test, [1000]), /sample index 1000 is outside 0\.\.999 of the test pool/);
});

test('renderImage lays the cells out in row-major grid order', async () => {
  const { test } = await pools;
  const index = 7;
  const image = renderImage(test, index);
  assert.equal(image.length, 112 * 112);
  for (let r = 0; r < 112; r++) {
    for (let c = 0; c < 112; c++) {
      const cell = Math.floor(r / 28) * 4 + Math.floor(c / 28);
      const expected = test.mnist.images[test.cells[index * 16 + cell] * 784 + (r % 28) * 28 + (c % 28)];
      if (image[r * 112 + c] !== expected) assert.fail(`pixel (${r}, ${c})`);
    }
  }
});

test('takeBalanced: N / c per class, distinct, deterministic, nested across N', async () => {
  const { train } = await pools;
  const draw = takeBalanced(train, 1000, 3);
  assert.equal(draw.length, 1000);
  assert.equal(new Set(draw).size, 1000);
  assert.deepEqual(
    histogram(
      Array.from(draw, (i) => train.labels[i]),
      2,
    ),
    [500, 500],
  );
  assert.deepEqual(takeBalanced(train, 1000, 3), draw);
  assert.notDeepEqual(takeBalanced(train, 1000, 4), draw);
  for (const N of [2, 100, 300, 500, 700, 900]) assert.deepEqual(takeBalanced(train, N, 3), draw.subarray(0, N));
  assert.deepEqual(takeBalanced(train, 10000, 3).subarray(0, 1000), draw);
  assert.equal(new Set(takeBalanced(train, 10000, 0)).size, 10000);

  for (const bad of [0, 999, 10002, 1.5, -2, Number.NaN]) {
    assert.throws(
      () => takeBalanced(train, bad, 3),
      (error: unknown) =>
        error instanceof OptionError &&
        /takeBalanced: N must be a positive multiple of the number of classes 2 and at most 10000 \(5000 per class in this train pool\)/.test(error.message) &&
        error.message.includes(`(got ${bad})`),
    );
  }
  assert.throws(() => takeBalanced(train, 10, 0.5), /takeBalanced: seed must be a safe integer \(got 0\.5\)/);
});

test('multiclass and other grid sizes', async () => {
  const { test } = await pools;
  const pool = composeMnistPatchPool(test.mnist, {
    gridSize: 2,
    discriminativeDigits: [0, 1, 2],
    fillDigits: [3, 4, 5, 6, 7, 8, 9],
    testCount: 300,
    trainCount: 3,
    seed: 5,
  });
  assert.equal(pool.classes, 3);
  assert.equal(pool.patchCount, 4);
  assert.deepEqual(histogram(pool.labels, 3), [100, 100, 100]);
  checkComposition(pool);
  const draw = takeBalanced(pool, 30, 1);
  assert.deepEqual(
    histogram(
      Array.from(draw, (i) => pool.labels[i]),
      3,
    ),
    [10, 10, 10],
  );
  const data = materialize(pool, draw);
  assert.equal(data.classes, 3);
  assert.equal(data.patches.length, 30 * 4 * 784);
  assert.equal(renderImage(pool, 0).length, 56 * 56);
  assert.throws(() => takeBalanced(pool, 31, 1), /multiple of the number of classes 3 and at most 300 \(100 per class/);
});

test('invalid options are refused with messages naming the option, the value and what is allowed', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ gridSize: 1 }, /mnist-patch\.gridSize: must be an integer >= 2 \(n = gridSize\^2 .*\(got 1\)/],
    [{ gridSize: 2.5 }, /mnist-patch\.gridSize: must be an integer >= 2.*\(got 2\.5\)/],
    [{ discriminativeDigits: [1] }, /mnist-patch\.discriminativeDigits: must list at least 2 digits \(one per class\) \(got \[1\]\)/],
    [{ discriminativeDigits: [1, 1] }, /mnist-patch\.discriminativeDigits: must not repeat a digit \(one per class\) \(got \[1,1\]\)/],
    [{ discriminativeDigits: [1, 10] }, /mnist-patch\.discriminativeDigits\.1: must be an integer in 0\.\.9 \(got 10\)/],
    [{ discriminativeDigits: 'ones' }, /mnist-patch\.discriminativeDigits: must be an array of digits 0\.\.9 \(one per class\) \(got 'ones'\)/],
    [{ fillDigits: [] }, /mnist-patch\.fillDigits: must list at least 1 digit .*\(got \[\]\)/],
    [{ fillDigits: [2, 3, 3] }, /mnist-patch\.fillDigits: must not repeat a digit .*\(got \[2,3,3\]\)/],
    [{ fillDigits: [0, 2, 3] }, /mnist-patch\.fillDigits: must not contain a discriminative digit: \[0, 2, 3\] shares 0 with discriminativeDigits \[1, 0\]/],
    [{ trainCount: 0 }, /mnist-patch\.trainCount: must be an integer >= 1 \(got 0\)/],
    [{ trainCount: 999 }, /mnist-patch\.trainCount: must be a multiple of the number of classes 2 .*999 is not \(got 999\)/],
    [
      { discriminativeDigits: [1, 0, 2], fillDigits: [3, 4] },
      /mnist-patch\.trainCount: must be a multiple of the number of classes 3 .*10000 \(the default\) is not/,
    ],
    [{ testCount: -5 }, /mnist-patch\.testCount: must be an integer >= 1 \(got -5\)/],
    [{ seed: 0.5 }, /mnist-patch\.seed: must be a safe integer \(got 0\.5\)/],
    [{ dir: '' }, /mnist-patch\.dir: must be a folder path \(got ''\)/],
    [{ gridsize: 4 }, /mnist-patch: unknown option 'gridsize'/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => validateMnistPatchConfig(options),
      (error: unknown) => error instanceof OptionError && message.test(error.message),
      `options ${JSON.stringify(options)}`,
    );
  }
  // Several mistakes: one line each.
  assert.throws(
    () => validateMnistPatchConfig({ gridSize: 0, seed: 1.5 } as Record<string, unknown>),
    (error: unknown) => error instanceof OptionError && error.message.split('\n').length === 2,
  );
  assert.deepEqual(validateMnistPatchConfig({}), { ...MNIST_PATCH_DEFAULTS });
});
