import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readJpeg } from '../../src/data/celeba.js';
import { CIFAR10_RECORD_BYTES, encodeCifar10, loadCifar10 } from '../../src/data/cifar10.js';
import { readIdx } from '../../src/data/idx.js';
import { DataFileError } from '../../src/data/data-file-error.js';

// Before these checks, each of these reads grew without bound (a worker reached 7 GB in 40 s);
// the timeout turns such a regression into a failure rather than a machine out of memory.
const options = { timeout: 20_000 };

describe('data files: type and size checked before reading', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-data-file-'));
    const record = encodeCifar10(new Uint8Array(32 * 32 * 3), [1]);
    for (let b = 1; b <= 5; b++) await writeFile(join(dir, `data_batch_${b}.bin`), record);
    await rm(join(dir, 'data_batch_3.bin'));
    await symlink('/dev/zero', join(dir, 'data_batch_3.bin'));
    await symlink('/dev/zero', join(dir, 'zero-idx'));
    await symlink('/dev/zero', join(dir, 'zero.jpg'));
    await mkdir(join(dir, 'folder.jpg'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const refuses = (problem: RegExp, file: string) => (error: unknown) =>
    error instanceof DataFileError && error.file.endsWith(file) && problem.test(error.message);

  it('a CIFAR-10 batch that is a link to /dev/zero is refused, naming the file and its type', options, async () => {
    await assert.rejects(
      loadCifar10(dir, 'train', { recordsPerFile: 1 }),
      refuses(/data_batch_3\.bin: is a character device such as \/dev\/zero, not a regular file/, 'data_batch_3.bin'),
    );
    await assert.rejects(loadCifar10(dir, 'train', { recordsPerFile: 'any' }), refuses(/not a regular file/, 'data_batch_3.bin'));
  });

  it('an IDX file or a JPEG that is a device, a folder or a named pipe is refused', options, async () => {
    await assert.rejects(readIdx(join(dir, 'zero-idx'), 'MNIST file'), refuses(/MNIST file .*zero-idx: is a character device/, 'zero-idx'));
    await assert.rejects(readJpeg(join(dir, 'zero.jpg'), 'CelebA image'), refuses(/CelebA image .*zero\.jpg: is a character device/, 'zero.jpg'));
    await assert.rejects(readJpeg(join(dir, 'folder.jpg')), refuses(/is a folder, not a regular file/, 'folder.jpg'));
    const fifo = join(dir, 'pipe-idx');
    execFileSync('mkfifo', [fifo]);
    // Opening a named pipe for reading would wait for a writer forever.
    await assert.rejects(readIdx(fifo), refuses(/is a named pipe, not a regular file/, 'pipe-idx'));
  });

  it('a CIFAR-10 batch of the wrong size is refused from its size, with the size expected', options, async () => {
    const wrong = await mkdtemp(join(tmpdir(), 'pmoe-data-file-size-'));
    try {
      const record = encodeCifar10(new Uint8Array(32 * 32 * 3), [1]);
      for (let b = 1; b <= 5; b++) await writeFile(join(wrong, `data_batch_${b}.bin`), b === 2 ? record.subarray(0, 100) : record);
      await assert.rejects(
        loadCifar10(wrong, 'train', { recordsPerFile: 1 }),
        refuses(
          new RegExp(
            `data_batch_2\\.bin: size 100 bytes is not a whole number of ${CIFAR10_RECORD_BYTES}-byte records .*expected ${CIFAR10_RECORD_BYTES} bytes = 1 records`,
          ),
          'data_batch_2.bin',
        ),
      );
      assert.ok(existsSync(join(wrong, 'data_batch_1.bin')));
    } finally {
      await rm(wrong, { recursive: true, force: true });
    }
  });
});
