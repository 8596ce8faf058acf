import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FASHION_MNIST_CLASSES, fashionMnistAvailable, loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { readMaybeGzipped } from '../../src/data/gzip-file.js';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';
import { DataFileError } from '../../src/data/data-file-error.js';
import { loadImageData } from '../../src/data/image-source.js';
import { loadData } from '../../src/data/source.js';

const realSkip = fashionMnistAvailable() ? false : 'Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)';

/** A random split in IDX form: `count` images of 28x28 and labels 0..9. */
function fakeSplit(count: number, seed: number) {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const images = Uint8Array.from({ length: count * 784 }, () => next() % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return {
    images: encodeIdx({ type: 'ubyte', shape: [count, 28, 28], data: images }),
    labels: encodeIdx({ type: 'ubyte', shape: [count], data: labels }),
    pixels: images,
  };
}

describe('Fashion-MNIST', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pmoe-fashion-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('gzipped and plain IDX files read to the same bytes; a corrupt or truncated .gz is named in the error', async () => {
    const { images } = fakeSplit(20, 3);
    await writeFile(join(root, 'plain'), images);
    await writeFile(join(root, 'packed.gz'), gzipSync(images));
    const plain = await readMaybeGzipped(join(root, 'plain'));
    const unpacked = await readMaybeGzipped(join(root, 'packed.gz'));
    assert.deepEqual(new Uint8Array(unpacked), new Uint8Array(plain));
    assert.deepEqual(parseIdx(unpacked, 'x').shape, [20, 28, 28]);

    const packed = gzipSync(images);
    await writeFile(join(root, 'torn.gz'), packed.subarray(0, packed.length >> 1));
    await assert.rejects(readMaybeGzipped(join(root, 'torn.gz'), 'Fashion-MNIST file'), (error: unknown) => {
      assert.ok(error instanceof DataFileError);
      assert.match(error.message, /^Fashion-MNIST file .*torn\.gz: corrupt gzip data/);
      return true;
    });
    await assert.rejects(readMaybeGzipped(join(root, 'absent.gz')), /absent\.gz: cannot read: no such file/);
  });

  it('reads a folder of gzipped files, checks their shapes, and says how to install the package when the folder is missing', async () => {
    const dir = join(root, 'fashion');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir);
    const train = fakeSplit(30, 1);
    const test = fakeSplit(10, 2);
    await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(train.images));
    await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(train.labels));
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(test.images));
    // An uncompressed file is read too.
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), test.labels);
    const split = await loadFashionMnist('train', dir);
    assert.equal(split.count, 30);
    assert.deepEqual(split.images, train.pixels);
    assert.equal((await loadFashionMnist('test', dir)).count, 10);

    const bad = join(root, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx({ type: 'ubyte', shape: [2, 27, 28], data: new Uint8Array(2 * 27 * 28) })));
    await writeFile(join(bad, 'train-labels-idx1-ubyte.gz'), gzipSync(train.labels));
    await assert.rejects(
      loadFashionMnist('train', bad),
      /Fashion-MNIST file .*train-images-idx3-ubyte\.gz: expected ubyte images \[count, 28, 28\], found ubyte \[2, 27, 28\]/,
    );
    await assert.rejects(
      loadFashionMnist('train', join(root, 'nowhere')),
      /no folder .*nowhere \(install Fashion-MNIST with apt-get install dataset-fashion-mnist/,
    );
  });

  it('the installed dataset: 60,000 training and 10,000 test images, 6,000 and 1,000 per class', { skip: realSkip }, async () => {
    const [train, test] = await Promise.all([loadFashionMnist('train'), loadFashionMnist('test')]);
    assert.equal(train.count, 60_000);
    assert.equal(test.count, 10_000);
    for (const [split, per] of [
      [train, 6000],
      [test, 1000],
    ] as const) {
      const counts = new Array(10).fill(0);
      for (const label of split.labels) counts[label]++;
      assert.deepEqual(counts, new Array(10).fill(per));
    }
    assert.equal(FASHION_MNIST_CLASSES.length, 10);
  });

  it('fashion-patch grids put a Fashion-MNIST item of the class in the discriminative cell and fillers elsewhere', { skip: realSkip }, async () => {
    const fashion = await loadFashionMnist('train');
    const { train } = await loadData({ source: 'fashion-patch', trainSize: 40, testCount: 20 });
    assert.equal(train.patchCount, 16);
    // Each patch is a Fashion-MNIST training image / 255; the discriminative one is of class 1 (class 0) or 0 (class 1).
    const byPixels = new Map<string, number>();
    for (let i = 0; i < fashion.count; i++) byPixels.set(Buffer.from(fashion.images.subarray(i * 784, (i + 1) * 784)).toString('base64'), fashion.labels[i]);
    for (let s = 0; s < train.count; s++) {
      for (let j = 0; j < 16; j++) {
        const patch = train.patches.subarray((s * 16 + j) * 784, (s * 16 + j + 1) * 784);
        const label = byPixels.get(Buffer.from(Uint8Array.from(patch, (v) => Math.round(v * 255))).toString('base64'));
        assert.notEqual(label, undefined, `sample ${s} patch ${j} is no Fashion-MNIST training image`);
        if (j === train.discriminativePatch[s]) assert.equal(label, [1, 0][train.labels[s]]);
        else assert.ok(label! >= 2, `filler ${label} is a class item`);
      }
    }
  });

  it('fashion-quadrants: 32x32 images of four classes named as Fashion-MNIST names them', { skip: realSkip }, async () => {
    const data = await loadImageData({ source: 'fashion-quadrants', trainSize: 40, testSize: 20 });
    assert.deepEqual(data.train.shape, [40, 32, 32, 1]);
    assert.deepEqual(data.classNames, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress']);
    assert.deepEqual(new Set(data.train.labels), new Set([0, 1, 2, 3]));
  });
});
