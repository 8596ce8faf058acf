import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CIFAR10_RECORD_BYTES, encodeCifar10, loadCifar10 } from '../../src/data/cifar10.js';

/** `count` images whose pixel (y, x, c) is (seed + 7y + 3x + 101c) mod 256, labels seed.. mod 10. */
function images(count: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const pixels = new Uint8Array(count * 32 * 32 * 3);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = (seed + i) % 10;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) pixels[((i * 32 + y) * 32 + x) * 3 + c] = (seed + i + 7 * y + 3 * x + 101 * c) % 256;
  }
  return { images: pixels, labels };
}

describe('CIFAR-10 binary reader', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-cifar-'));
    for (let b = 1; b <= 5; b++) {
      const set = images(3, 10 * b);
      await writeFile(join(dir, `data_batch_${b}.bin`), encodeCifar10(set.images, set.labels));
    }
    const test = images(3, 99);
    await writeFile(join(dir, 'test_batch.bin'), encodeCifar10(test.images, test.labels));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the record layout (label, 1024 R, 1024 G, 1024 B) into NHWC, files in order', async () => {
    const train = await loadCifar10(dir, 'train', { recordsPerFile: 3 });
    assert.equal(train.count, 15);
    assert.deepEqual(train.shape, [15, 32, 32, 3]);
    const expected = [1, 2, 3, 4, 5].map((b) => images(3, 10 * b));
    assert.deepEqual(train.labels, Uint8Array.from(expected.flatMap((e) => Array.from(e.labels))));
    assert.deepEqual(train.images, Uint8Array.from(expected.flatMap((e) => Array.from(e.images))));
    // The raw layout, checked once by hand: record 0 of test_batch, pixel (y 1, x 2), channel G.
    const test = await loadCifar10(dir, 'test', { recordsPerFile: 'any' });
    assert.equal(test.count, 3);
    assert.equal(test.images[((0 * 32 + 1) * 32 + 2) * 3 + 1], (99 + 7 + 6 + 101) % 256);
    assert.equal(test.labels[0], 99 % 10);
  });

  it('by default demands the real 10000 records per file, naming the file and the sizes', async () => {
    await assert.rejects(loadCifar10(dir, 'test'), (error: Error) => {
      assert.equal(error.name, 'DataFileError');
      assert.match(error.message, /test_batch\.bin: holds 3 records \(9219 bytes\) but expected 10000 records \(30730000 bytes/);
      return true;
    });
  });

  it('rejects a size that is not whole records, a label over 9 and a missing file, naming the file', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'pmoe-cifar-bad-'));
    try {
      const set = images(2, 0);
      const bytes = encodeCifar10(set.images, set.labels);
      await writeFile(join(bad, 'test_batch.bin'), Buffer.concat([bytes, Buffer.alloc(5)]));
      await assert.rejects(
        loadCifar10(bad, 'test', { recordsPerFile: 'any' }),
        /test_batch\.bin: size 6151 bytes is not a whole number of 3073-byte records \(2 records and 5 bytes over\)/,
      );

      const labelled = Uint8Array.from(bytes);
      labelled[1 * CIFAR10_RECORD_BYTES] = 12;
      await writeFile(join(bad, 'test_batch.bin'), labelled);
      await assert.rejects(loadCifar10(bad, 'test', { recordsPerFile: 2 }), /test_batch\.bin: record 1 \(byte offset 3073\) has label 12; labels are 0\.\.9/);

      await assert.rejects(loadCifar10(bad, 'train', { recordsPerFile: 2 }), (error: Error) => {
        assert.equal(error.name, 'DataFileError');
        assert.match(error.message, /data_batch_1\.bin: cannot read: no such file/);
        return true;
      });
      await writeFile(join(bad, 'test_batch.bin'), new Uint8Array(0));
      await assert.rejects(loadCifar10(bad, 'test', { recordsPerFile: 'any' }), /test_batch\.bin: size 0 bytes/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('refuses a bad split or recordsPerFile', async () => {
    await assert.rejects(loadCifar10(dir, 'valid' as never), /split must be 'train' or 'test'/);
    await assert.rejects(loadCifar10(dir, 'test', { recordsPerFile: 0 }), /recordsPerFile must be an integer in 1..10000 or 'any'/);
  });
});
