import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadMnist } from '../../src/data/mnist.js';
import { buildMnistQuadrants, composeMnistQuadrants, mnistDigit16, type MnistQuadrants } from '../../src/data/mnist-quadrants.js';

/** Every quadrant of every image equals the 16x16 down-sampled MNIST digit its `sources` entry names, in `mnist`. */
async function assertBuiltFrom(built: MnistQuadrants): Promise<void> {
  const mnist = await loadMnist(built.split);
  const [count, , , channels] = built.shape;
  for (let n = 0; n < count; n++) {
    for (let q = 0; q < 4; q++) {
      const digit = mnistDigit16(mnist, built.sources[4 * n + q]);
      const [top, left] = [16 * Math.floor(q / 2), 16 * (q % 2)];
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          for (let c = 0; c < channels; c++) {
            const value = built.images[((n * 32 + top + y) * 32 + left + x) * channels + c];
            if (value !== digit[y * 16 + x])
              assert.fail(`image ${n} quadrant ${q} pixel (${y}, ${x}) is not MNIST ${built.split} #${built.sources[4 * n + q]}`);
          }
        }
      }
    }
  }
}

describe('MNIST quadrants', () => {
  it('train images come from the training split only, test images from the test split only', async () => {
    const train = await buildMnistQuadrants('train', { count: 120, seed: 1 });
    const test = await buildMnistQuadrants('test', { count: 120, seed: 1 });
    assert.equal(train.split, 'train');
    assert.equal(test.split, 'test');
    await assertBuiltFrom(train);
    await assertBuiltFrom(test);
    // The same seed on the two splits draws different digits (different pools).
    assert.notDeepEqual(train.images, test.images);
  });

  it('labels, quadrants and fillers: the class digit in exactly the recorded quadrant, fillers elsewhere', async () => {
    const mnist = await loadMnist('train');
    const built = composeMnistQuadrants(mnist, { count: 400, seed: 2 });
    assert.deepEqual(built.shape, [400, 32, 32, 1]);
    const perClass = [0, 0, 0, 0];
    const perQuadrant = [0, 0, 0, 0];
    for (let n = 0; n < 400; n++) {
      perClass[built.labels[n]]++;
      perQuadrant[built.quadrants[n]]++;
      for (let q = 0; q < 4; q++) {
        const digit = mnist.labels[built.sources[4 * n + q]];
        if (q === built.quadrants[n]) assert.equal(digit, built.labels[n], 'class digit d is class d for the default 0..3');
        else assert.ok(digit >= 4 && digit <= 9, `filler digit ${digit}`);
      }
    }
    assert.deepEqual(perClass, [100, 100, 100, 100]);
    assert.ok(
      perQuadrant.every((c) => c > 70 && c < 130),
      `quadrants ${perQuadrant}`,
    );
    assert.ok(built.images.every((v) => v >= 0 && v <= 1));
    const classSources = Array.from({ length: 400 }, (_, n) => built.sources[4 * n + built.quadrants[n]]);
    assert.equal(new Set(classSources).size, 400, 'class digits drawn without replacement');
  });

  it('is seeded, supports 3 channels and other digit sets, and refuses bad options', async () => {
    const mnist = await loadMnist('test');
    const a = composeMnistQuadrants(mnist, { count: 30, seed: 7 });
    assert.deepEqual(composeMnistQuadrants(mnist, { count: 30, seed: 7 }), a);
    assert.notDeepEqual(composeMnistQuadrants(mnist, { count: 30, seed: 8 }).sources, a.sources);
    const rgb = composeMnistQuadrants(mnist, { count: 30, seed: 7, channels: 3 });
    assert.deepEqual(rgb.shape, [30, 32, 32, 3]);
    for (let p = 0; p < 30 * 1024; p++) {
      assert.equal(rgb.images[3 * p], a.images[p]);
      assert.equal(rgb.images[3 * p + 2], a.images[p]);
    }
    const pair = composeMnistQuadrants(mnist, { count: 20, seed: 1, classDigits: [7, 9], fillerDigits: [1] });
    for (let n = 0; n < 20; n++) {
      assert.equal(mnist.labels[pair.sources[4 * n + pair.quadrants[n]]], [7, 9][pair.labels[n]]);
    }
    assert.throws(() => composeMnistQuadrants(mnist, { count: 10, seed: 1, classDigits: [0, 4] }), /digit 4 is both a class digit and a filler/);
    assert.throws(() => composeMnistQuadrants(mnist, { count: 0, seed: 1 }), /count must be an integer >= 1/);
    assert.throws(() => composeMnistQuadrants(mnist, { count: 10000, seed: 1 }), /2500 images of digit 0 needed, MNIST's test split holds 980/);
  });
});
