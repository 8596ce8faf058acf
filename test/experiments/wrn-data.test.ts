import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { dataFolderProblem, groupAccuracy, loadImageData, planImageData } from '../../src/data/image-source.js';
import { cifarSubset, SPURIOUS_GROUPS } from '../../src/data/image-variants.js';
import { initEngine } from '../../src/engine/backend.js';
import { experimentByName } from '../../src/experiments/registry.js';
import { runOnce, type ImageRunSpec } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';
import { bandedJpeg, CELEBA_NAMES, writeCelebaFixture, type FixtureImage, type Rgb } from '../support/celeba-fixture.js';

/** Attribute values with Smiling, Black_Hair and Blond_Hair set, the rest -1. */
function attributes(smiling: boolean, hair: 'black' | 'blond'): number[] {
  const on = new Set(['Smiling', hair === 'black' ? 'Black_Hair' : 'Blond_Hair'].filter((name) => name !== 'Smiling' || smiling));
  return CELEBA_NAMES.map((name) => (on.has(name) ? 1 : -1));
}

const COLOURS: Record<string, Rgb> = { black: [20, 20, 20], blond: [230, 200, 90], smile: [200, 40, 40], plain: [40, 40, 200] };

/** Training images (partition 0): 5 per majority group, 1 per minority group; test images (partition 2): 2 per group. */
function fixtureImages(): FixtureImage[] {
  const images: FixtureImage[] = [];
  const add = (smiling: boolean, hair: 'black' | 'blond', partition: 0 | 2, count: number) => {
    for (let i = 0; i < count; i++) {
      const file = `${String(images.length + 1).padStart(6, '0')}.jpg`;
      images.push({
        file,
        values: attributes(smiling, hair),
        partition,
        jpeg: bandedJpeg(178, 218, COLOURS[hair], COLOURS[smiling ? 'smile' : 'plain'], COLOURS[hair]),
      });
    }
  };
  add(true, 'black', 0, 5);
  add(false, 'blond', 0, 5);
  add(true, 'blond', 0, 1);
  add(false, 'black', 0, 1);
  for (const [smiling, hair] of [
    [true, 'black'],
    [true, 'blond'],
    [false, 'black'],
    [false, 'blond'],
  ] as const)
    add(smiling, hair, 2, 2);
  return images;
}

describe('image data for the WRN experiments', () => {
  let celebaDir: string;
  before(async () => {
    celebaDir = await writeCelebaFixture(fixtureImages());
  });
  after(() => rm(celebaDir, { recursive: true, force: true }));

  it('fig11 through runOnce on a CelebA folder: spurious training set, balanced test set, test accuracy per group that adds up to the overall accuracy', async () => {
    await initEngine('wasm');
    const fig11 = experimentByName('fig11');
    const options = { celebaDir, sizes: [8], testSize: 8, seeds: 1, epochs: 1, wideningFactor: 1, batchNormMomentum: 0.9, models: ['wrn-pmoe'] };
    const [spec] = fig11.specs(parseOptions(fig11.schema, options, 'fig11')) as ImageRunSpec[];
    const record = await runOnce(spec);
    assert.equal(record.data.source, 'celeba-spurious');
    assert.deepEqual(record.classNames, ['not smiling', 'smiling']);
    // 64x64 CelebA input: 16 patches of 4x4 on the 16x16 map, k = 8, l = 2, 3x3 experts.
    assert.deepEqual([record.model.inputSize, record.model.architecture === 'wrn-pmoe' && record.model.experts], [64, 8]);
    const groups = record.groupAccuracy!;
    assert.deepEqual(
      groups.map((g) => [g.group, g.count]),
      SPURIOUS_GROUPS.map((g) => [g, 2]),
    );
    const overall = groups.reduce((sum, g) => sum + g.accuracy * g.count, 0) / 8;
    assert.ok(Math.abs(overall - record.finalTestAccuracy) < 1e-12, `${overall} vs ${record.finalTestAccuracy}`);
    assert.ok(groups.every((g) => [0, 0.5, 1].includes(g.accuracy)));
    // The same groups as spurious metrics: black hair goes with smiling (class 1) in training, blond with not smiling.
    const spurious = record.spurious!;
    assert.equal(spurious.strength, 0.95);
    assert.deepEqual(
      spurious.groups.map((g) => [g.class, g.item, g.accuracy]),
      [
        [0, 0, groups[3].accuracy],
        [0, 1, groups[2].accuracy],
        [1, 0, groups[1].accuracy],
        [1, 1, groups[0].accuracy],
      ],
    );
    assert.equal(spurious.worstGroupAccuracy, Math.min(...groups.map((g) => g.accuracy)));
    assert.equal(spurious.reversedFrom, 'minority groups');
    assert.equal(spurious.reversedAccuracy, (groups[1].accuracy + groups[2].accuracy) / 2);
    assert.ok(Math.abs(spurious.balancedAccuracy - record.finalTestAccuracy) < 1e-12);
  });

  it('the training draw follows the seed; the test set does not (testSeed), so every run of a sweep sees the same one', async () => {
    const spec = { source: 'mnist-quadrants', trainSize: 12, testSize: 8 } as const;
    const [a, b] = await Promise.all([loadImageData({ ...spec, seed: 1 }), loadImageData({ ...spec, seed: 2 })]);
    assert.deepEqual(a.test.images, b.test.images);
    assert.deepEqual(a.test.labels, b.test.labels);
    assert.notDeepEqual(a.train.images, b.train.images);
    const again = await loadImageData({ ...spec, seed: 1 });
    assert.deepEqual(again.train.images, a.train.images);
    assert.deepEqual(a.train.shape, [12, 32, 32, 1]);
    const otherTest = await loadImageData({ ...spec, seed: 1, testSeed: 5 });
    assert.notDeepEqual(otherTest.test.images, a.test.images);
  });

  it('specs are checked before anything is read: unknown source, missing folder, bad sizes', () => {
    assert.throws(
      () => planImageData({ source: 'imagenet', trainSize: 10 } as never),
      /data\.source: source must be one of 'mnist-quadrants', 'cifar10'.*'celeba-smiling-eyeglasses'/,
    );
    assert.throws(() => planImageData({ source: 'cifar10', trainSize: 10 } as never), /data\.dir: must be the path of a folder \(got nothing\)/);
    assert.throws(() => planImageData({ source: 'celeba-smiling', dir: celebaDir, trainSize: 0 }), /data\.trainSize: must be an integer >= 1 \(got 0\)/);
    assert.throws(() => planImageData({ source: 'mnist-quadrants', trainSize: 10, channels: 2 as 1 }), /data\.channels: must be 1 or 3/);
    const plan = planImageData({ source: 'celeba-smiling-eyeglasses', dir: celebaDir, trainSize: 100 });
    assert.deepEqual([plan.imageShape, plan.classes, plan.samples, plan.spec.testSize], [[64, 64, 3], 4, 2100, 2000]);
    assert.equal(dataFolderProblem('celeba', celebaDir), null);
    assert.match(dataFolderProblem('cifar', celebaDir)!, /lacks .*data_batch_1\.bin/);
    assert.match(dataFolderProblem('backgrounds', celebaDir)!, /holds no \.jpg or \.jpeg file/);
  });

  it('cifarSubset draws count/10 distinct images per class, shuffled, each the source image it names', () => {
    // 50 images, label i mod 10, every pixel of image i equal to i.
    const images = new Uint8Array(50 * 3072);
    for (let i = 0; i < 50; i++) images.fill(i, i * 3072, (i + 1) * 3072);
    const source = { images, labels: Array.from({ length: 50 }, (_, i) => i % 10), shape: [50, 32, 32, 3] as const };
    const subset = cifarSubset(source, { count: 23, seed: 4 });
    const picked = Array.from({ length: 23 }, (_, i) => subset.images[i * 3072]);
    assert.equal(new Set(picked).size, 23, 'no image twice');
    assert.deepEqual(
      Array.from(subset.labels),
      picked.map((i) => i % 10),
      'labels follow their images',
    );
    const perClass = Array.from({ length: 10 }, (_, c) => picked.filter((i) => i % 10 === c).length);
    assert.deepEqual(perClass, [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
    assert.notDeepEqual(
      picked,
      [...picked].sort((a, b) => (a % 10) - (b % 10) || a - b),
      'shuffled, not grouped by class',
    );
    assert.deepEqual(cifarSubset(source, { count: 23, seed: 4 }).images, subset.images);
    assert.throws(() => cifarSubset(source, { count: 60, seed: 0 }), /cifarSubset: 6 images of class airplane needed, the source holds 5/);
  });

  it('group accuracy counts each group of test images separately', () => {
    const groups = { names: ['a', 'b', 'c'], ids: Int32Array.from([0, 0, 1, 1, 1, 0]) };
    const labels = Int32Array.from([1, 0, 1, 1, 0, 1]);
    const predicted = Int32Array.from([1, 1, 1, 0, 0, 1]);
    assert.deepEqual(groupAccuracy(groups, labels, predicted), [
      { group: 'a', count: 3, accuracy: 2 / 3 },
      { group: 'b', count: 3, accuracy: 2 / 3 },
      { group: 'c', count: 0, accuracy: NaN },
    ]);
  });
});
