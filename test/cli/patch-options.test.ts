import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../../bin/pmoe.js', import.meta.url));

async function pmoe(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 120_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe('pmoe train: the MNIST-patch construction', () => {
  it('--discriminative-digits and --fill-digits reach the run record', async () => {
    const result = await pmoe(
      'train',
      '--data',
      'mnist-patch',
      '--discriminative-digits',
      '7,2',
      '--fill-digits',
      '0,1,3',
      '--grid-size',
      '2',
      '--train-size',
      '20',
      '--test-size',
      '20',
      '--epochs',
      '1',
      '--model',
      'cnn',
      '--backend',
      'wasm',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    const record = JSON.parse(result.stdout);
    assert.deepEqual([record.data.discriminativeDigits, record.data.fillDigits, record.data.gridSize], [[7, 2], [0, 1, 3], 2]);
  });

  it('a bad construction fails before any work, naming the flag', async () => {
    const overlap = await pmoe('train', '--data', 'mnist-patch', '--discriminative-digits', '3,8', '--fill-digits', '3,4');
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /--fill-digits \(mnist-patch\.fillDigits\): must not contain a discriminative digit/);
    const text = await pmoe('train', '--data', 'mnist-patch', '--discriminative-digits', '3,x');
    assert.notEqual(text.code, 0);
    assert.match(text.stderr, /--discriminative-digits <list>' argument '3,x' is invalid\. expected a finite number, got 'x'/);
  });
});
