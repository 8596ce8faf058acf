import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CelebaIndex } from '../../src/data/celeba.js';
import {
  celebaSmiling,
  celebaSmilingEyeglasses,
  celebaSpurious,
  cifarBackgroundNoise,
  cifarVehicles,
  type LabelledImages,
} from '../../src/data/image-variants.js';
import { centerSquare, resizeArea, takeImages } from '../../src/data/image-ops.js';
import { createRng } from '../../src/util/random.js';
import { CELEBA_NAMES } from '../support/celeba-fixture.js';

/** An in-memory CelebA index: 4000 rows, attributes drawn at random, partitions 60/20/20. */
function syntheticIndex(seed = 1): CelebaIndex {
  const rng = createRng(`index:${seed}`);
  const count = 4000;
  const attributes = new Int8Array(count * 40);
  for (let i = 0; i < attributes.length; i++) attributes[i] = rng.next() < 0.4 ? 1 : -1;
  const partition = Uint8Array.from({ length: count }, (_, i) => (i % 5 < 3 ? 0 : i % 5 === 3 ? 1 : 2));
  return {
    dir: '/nowhere',
    count,
    attributeNames: CELEBA_NAMES,
    files: Array.from({ length: count }, (_, i) => `${String(i + 1).padStart(6, '0')}.jpg`),
    attributes,
    partition,
  };
}

const column = (name: string) => CELEBA_NAMES.indexOf(name);
const attr = (index: CelebaIndex, row: number, name: string) => index.attributes[row * 40 + column(name)];

function counts(values: ArrayLike<number>, size: number): number[] {
  const out = new Array<number>(size).fill(0);
  for (let i = 0; i < values.length; i++) out[values[i]]++;
  return out;
}

/** A CIFAR-like set whose image i is the constant colour (i, 2i, 3i) mod 256, label i mod 10. */
function constantCifar(count: number): LabelledImages {
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < count; i++) for (let p = 0; p < 1024; p++) images.set([i % 256, (2 * i) % 256, (3 * i) % 256], (i * 1024 + p) * 3);
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10), shape: [count, 32, 32, 3] };
}

describe('image operations', () => {
  it('area resizing: exact 2x2 means, fractional coverage, crop boxes', () => {
    const source = Float32Array.from({ length: 16 }, (_, i) => i); // 4x4, one channel
    assert.deepEqual(Array.from(resizeArea(source, 4, 4, 1, 2, 2)), [2.5, 4.5, 10.5, 12.5]);
    // 4 -> 3 along a row: output pixel 0 covers source [0, 4/3): (0 * 1 + 1 * 1/3) / (4/3) = 0.25.
    const row = resizeArea(Float32Array.from([0, 1, 2, 3]), 1, 4, 1, 1, 3);
    assert.ok(Math.abs(row[0] - 0.25) < 1e-6 && Math.abs(row[1] - 1.5) < 1e-6 && Math.abs(row[2] - 2.75) < 1e-6);
    assert.deepEqual(Array.from(resizeArea(source, 4, 4, 1, 1, 1, { top: 1, left: 1, height: 2, width: 2 })), [7.5]);
    assert.deepEqual(centerSquare(218, 178), { top: 20, left: 0, height: 178, width: 178 });
    assert.deepEqual(Array.from(takeImages(Uint8Array.from([1, 2, 3, 4, 5, 6]), [3, 1, 1, 2], [2, 0])), [5, 6, 1, 2]);
  });
});

describe('CelebA variants', () => {
  const index = syntheticIndex();

  it('smiling: binary on the Smiling attribute, balanced, from the requested partition, seeded', () => {
    const selection = celebaSmiling(index, { split: 'train', count: 300, seed: 4 });
    assert.equal(selection.rows.length, 300);
    assert.deepEqual(counts(selection.labels, 2), [150, 150]);
    selection.rows.forEach((row, i) => {
      assert.equal(index.partition[row], 0);
      assert.equal(selection.labels[i], attr(index, row, 'Smiling') === 1 ? 1 : 0);
    });
    assert.equal(new Set(selection.rows).size, 300, 'no image twice');
    assert.deepEqual(celebaSmiling(index, { split: 'train', count: 300, seed: 4 }), selection);
    assert.notDeepEqual(celebaSmiling(index, { split: 'train', count: 300, seed: 5 }).rows, selection.rows);
    const test = celebaSmiling(index, { split: 'test', count: 100, seed: 4 });
    assert.ok(Array.from(test.rows).every((row) => index.partition[row] === 2));
  });

  it('spurious: 95/5 hair blocks per class in training (0.475/0.025/0.025/0.475), balanced groups in test', () => {
    const train = celebaSpurious(index, { split: 'train', count: 200, seed: 1 });
    assert.deepEqual(counts(train.groups!, 4), [95, 5, 5, 95]);
    train.rows.forEach((row, i) => {
      const smiling = attr(index, row, 'Smiling') === 1;
      const black = attr(index, row, 'Black_Hair') === 1;
      const blond = attr(index, row, 'Blond_Hair') === 1;
      assert.ok(black !== blond, 'exactly one of black and blond hair');
      assert.equal(train.labels[i], smiling ? 1 : 0);
      assert.equal(train.groups![i], (smiling ? 0 : 2) + (black ? 0 : 1));
    });
    const smilingBlack = Array.from(train.groups!).filter((g) => g === 0).length / Array.from(train.labels).filter((l) => l === 1).length;
    assert.equal(smilingBlack, 0.95);
    const test = celebaSpurious(index, { split: 'test', count: 40, seed: 1 });
    assert.deepEqual(counts(test.groups!, 4), [10, 10, 10, 10]);
    assert.ok(Array.from(test.rows).every((row) => index.partition[row] === 2));
    assert.deepEqual(celebaSpurious(index, { split: 'train', count: 200, seed: 1 }), train);
    assert.throws(
      () => celebaSpurious(index, { split: 'test', count: 4000, seed: 1 }),
      /CelebA test split has \d+ images of group 'smiling, black hair' but 1000 are needed/,
    );
  });

  it('4-class smiling x eyeglasses: label 2 * smiling + eyeglasses, balanced', () => {
    const selection = celebaSmilingEyeglasses(index, { split: 'val', count: 80, seed: 2 });
    assert.deepEqual(counts(selection.labels, 4), [20, 20, 20, 20]);
    selection.rows.forEach((row, i) => {
      assert.equal(index.partition[row], 1);
      assert.equal(selection.labels[i], 2 * (attr(index, row, 'Smiling') === 1 ? 1 : 0) + (attr(index, row, 'Eyeglasses') === 1 ? 1 : 0));
    });
  });
});

describe('CIFAR variants', () => {
  const cifar = constantCifar(200);

  it('vehicles: 4 classes, the vehicle in one random quadrant, animals in the other three, seeded', () => {
    const built = cifarVehicles(cifar, { count: 40, seed: 3 });
    assert.deepEqual(built.shape, [40, 32, 32, 3]);
    assert.deepEqual(counts(built.labels, 4), [10, 10, 10, 10]);
    const vehicleOf = [0, 1, 8, 9];
    for (let i = 0; i < 40; i++) {
      for (let q = 0; q < 4; q++) {
        const from = built.sources[4 * i + q];
        const cifarClass = cifar.labels[from];
        if (q === built.quadrants[i]) assert.equal(cifarClass, vehicleOf[built.labels[i]]);
        else assert.ok(cifarClass >= 2 && cifarClass <= 7, `quadrant ${q} holds an animal`);
        // The quadrant holds the (constant) source image, down-sampled.
        const [top, left] = [16 * Math.floor(q / 2), 16 * (q % 2)];
        for (const [y, x] of [
          [top, left],
          [top + 15, left + 15],
          [top + 7, left + 9],
        ]) {
          const at = ((i * 32 + y) * 32 + x) * 3;
          assert.deepEqual(Array.from(built.images.subarray(at, at + 3)), [from % 256, (2 * from) % 256, (3 * from) % 256]);
        }
      }
    }
    assert.deepEqual(counts(built.quadrants, 4).filter((c) => c > 0).length, 4, 'every quadrant used');
    assert.deepEqual(cifarVehicles(cifar, { count: 40, seed: 3 }), built);
    assert.notDeepEqual(cifarVehicles(cifar, { count: 40, seed: 4 }).quadrants, built.quadrants);
  });

  it('background noise: the 16x16 image at a random spot of a resized background, seeded', () => {
    const rgba = { width: 50, height: 40, data: new Uint8Array(50 * 40 * 4).map((_, i) => [7, 8, 9, 255][i % 4]) };
    const rgb = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).map((_, i) => [100, 110, 120][i % 3]) };
    const source: LabelledImages = {
      ...cifar,
      images: cifar.images.subarray(0, 30 * 3072),
      labels: (cifar.labels as Uint8Array).subarray(0, 30),
      shape: [30, 32, 32, 3],
    };
    const built = cifarBackgroundNoise(source, [rgba, rgb], { seed: 9 });
    assert.deepEqual(built.shape, [30, 32, 32, 3]);
    assert.deepEqual(Array.from(built.labels), Array.from(source.labels));
    const spots = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const [top, left] = [built.positions[2 * i], built.positions[2 * i + 1]];
      spots.add(`${top},${left}`);
      assert.ok(top >= 0 && top <= 16 && left >= 0 && left <= 16);
      const background = built.backgrounds[i] === 0 ? [7, 8, 9] : [100, 110, 120];
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inside = y >= top && y < top + 16 && x >= left && x < left + 16;
          const at = ((i * 32 + y) * 32 + x) * 3;
          assert.deepEqual(Array.from(built.images.subarray(at, at + 3)), inside ? [i % 256, (2 * i) % 256, (3 * i) % 256] : background);
        }
      }
    }
    assert.ok(spots.size > 20, 'positions vary');
    assert.deepEqual(cifarBackgroundNoise(source, [rgba, rgb], { seed: 9 }), built);
    assert.throws(() => cifarBackgroundNoise(source, [], { seed: 1 }), /no background images/);
  });
});
