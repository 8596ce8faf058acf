/** Output paths are checked before any work, and write failures name the option and the file. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fsProblem } from '../../src/util/fs-problem.js';

const BIN = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

/** Runs pmoe expecting failure; returns its stderr. */
async function pmoeFails(...args: string[]): Promise<string> {
  try {
    await run(process.execPath, [BIN, ...args], { timeout: 120_000 });
  } catch (error) {
    const failed = error as { code?: number; stderr: string };
    assert.equal(failed.code, 1, failed.stderr);
    return failed.stderr;
  }
  throw new Error(`pmoe ${args.join(' ')} succeeded`);
}

// A run long enough (minutes) that an error after training would time the test out.
const LONG_TRAIN = ['train', '--train-size', '400', '--test-size', '400', '--d', '32', '--n', '16', '--epochs', '100000'];

describe('output paths', { timeout: 180_000 }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pmoe-output-paths-'));
    writeFileSync(join(dir, 'a-file'), 'keep\n');
    mkdirSync(join(dir, 'a-folder'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('train --save-model naming a file, or under one, fails before training', async () => {
    const file = join(dir, 'a-file');
    assert.match(
      await pmoeFails(...LONG_TRAIN, '--save-model', file),
      /^pmoe: --save-model: cannot write into the folder '.*a-file': it is a file, not a folder\n$/,
    );
    assert.match(
      await pmoeFails(...LONG_TRAIN, '--save-model', join(file, 'model')),
      /--save-model: cannot write into the folder '.*a-file\/model': a part of the path is a file, not a folder \(ENOTDIR\)/,
    );
    assert.equal(readFileSync(file, 'utf8'), 'keep\n');
  });

  it(
    'train --save-model and reproduce --out where no folder can be made (under /proc) fail at once instead of hanging',
    { skip: process.platform !== 'linux' },
    async () => {
      assert.match(
        await pmoeFails(...LONG_TRAIN, '--save-model', '/proc/pmoe-model'),
        /^pmoe: --save-model: cannot write into the folder '\/proc\/pmoe-model': /,
      );
      assert.match(
        await pmoeFails('reproduce', 'fig4', '--quick', '--out', '/proc/pmoe/fig4.jsonl'),
        /^pmoe: --out: cannot write to '\/proc\/pmoe\/fig4.jsonl': /,
      );
    },
  );

  it('reproduce --out naming a folder fails before any run, naming the option and the folder', async () => {
    const stderr = await pmoeFails('reproduce', 'fig4', '--quick', '--out', join(dir, 'a-folder'));
    assert.match(stderr, /^pmoe: --out: cannot write to '.*a-folder': it is a folder, not a file \(EISDIR\)\n$/);
    assert.deepEqual(readdirSync(join(dir, 'a-folder')), []);
  });

  it('report --out naming a file fails before writing anything', async () => {
    const stderr = await pmoeFails('report', join(REPO, 'results', 'fig8.jsonl'), '--out', join(dir, 'a-file'));
    assert.match(stderr, /^pmoe: --out: cannot write into the folder '.*a-file': it is a file, not a folder\n$/);
    assert.equal(readFileSync(join(dir, 'a-file'), 'utf8'), 'keep\n');
  });

  it('a device as --out (a link to /dev/full) is refused before training, naming the option and the device', async () => {
    const full = join(dir, 'full.jsonl');
    symlinkSync('/dev/full', full);
    const stderr = await pmoeFails(...LONG_TRAIN, '--out', full);
    assert.match(stderr, /^pmoe: --out: cannot write to '.*full\.jsonl': it is a character device such as \/dev\/zero, not a regular file\n$/);
  });

  it(
    'a write that fails when the record is appended (the file may not grow) names --out, the file and the cause',
    { skip: process.platform === 'win32' },
    async () => {
      // ulimit -f 0: the process may not grow any file (a record can fit in one block); Node ignores SIGXFSZ, so the write fails with EFBIG,
      // as a write to a full disk fails with ENOSPC, once training is over.
      const out = join(dir, 'limited.jsonl');
      const args = ['train', '--train-size', '40', '--test-size', '40', '--epochs', '1', '--out', out].map((word) => `'${word}'`).join(' ');
      const failed = await run('bash', ['-c', `ulimit -f 0; exec '${process.execPath}' '${BIN}' ${args}`], { timeout: 120_000 }).then(
        () => undefined,
        (error: { code?: number; stderr: string }) => error,
      );
      assert.ok(failed, 'pmoe train succeeded');
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(
        failed.stderr,
        /pmoe: --out: cannot append the run record to '.*limited\.jsonl': the file would grow past the largest size this process may write \(EFBIG\)/,
      );
    },
  );

  it('file-system errors read as words, the code kept', () => {
    const error = (code: string) => Object.assign(new Error(`${code}: raw`), { code });
    assert.equal(fsProblem(error('EROFS')), 'the file system is read-only (EROFS)');
    assert.equal(fsProblem(error('ENOSPC')), 'no space left on the device (ENOSPC)');
    assert.equal(fsProblem(error('EEXIST')), 'a file of that name is in the way (EEXIST)');
    assert.equal(fsProblem(new Error('something else')), 'something else');
  });
});
