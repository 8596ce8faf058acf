import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { initEngine } from '../../src/engine/backend.js';
import { loadModel } from '../../src/io/save-model.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';

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

describe('pmoe command', () => {
  it('every command has --help', async () => {
    for (const args of [['--help'], ['demo', '--help'], ['train', '--help']]) {
      const result = await pmoe(...args);
      assert.equal(result.code, 0, args.join(' '));
      assert.match(result.stdout, /Usage: pmoe/);
    }
  });

  it('train --json prints a run record', async () => {
    const result = await pmoe(
      'train',
      '--model',
      'separate',
      '--train-size',
      '40',
      '--test-size',
      '100',
      '--epochs',
      '2',
      '--router-epochs',
      '2',
      '--backend',
      'wasm',
      '--json',
    );
    assert.equal(result.code, 0, result.stderr);
    const record = JSON.parse(result.stdout);
    assert.equal(record.training.model, 'separate');
    assert.equal(record.epochs.length, 2);
    assert.equal(record.backend, 'wasm');
    assert.ok(record.routingRate.rate >= 0 && record.routingRate.rate <= 1);
  });

  it('train --model cnn --save-model saves a cnn that loadModel reads back and pmoe serve refuses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-cli-cnn-'));
    try {
      const result = await pmoe(
        'train',
        '--model',
        'cnn',
        '--train-size',
        '20',
        '--test-size',
        '20',
        '--epochs',
        '1',
        '--backend',
        'cpu',
        '--save-model',
        dir,
        '--json',
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).training.model, 'cnn');
      const file = JSON.parse(await readFile(join(dir, 'pmoe-model.json'), 'utf8'));
      assert.equal(file.model, 'cnn');
      assert.equal(file.metrics.testAccuracy, JSON.parse(result.stdout).finalTestAccuracy);
      await initEngine('cpu');
      const model = await loadModel(dir);
      assert.ok(model instanceof TwoLayerCnn);
      model.dispose();
      // The page shows routing: pmoe serve refuses the cnn before it listens.
      const served = await pmoe('serve', '--model', dir, '--port', '0');
      assert.notEqual(served.code, 0);
      assert.match(served.stderr, /pmoe-model\.json holds a two-layer cnn, which has no routing; a pMoE is needed here/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('demo --json runs on a reduced grid', async () => {
    const result = await pmoe('demo', '--sizes', '30', '--epochs', '2', '--backend', 'wasm', '--json');
    assert.equal(result.code, 0, result.stderr);
    const demo = JSON.parse(result.stdout);
    assert.deepEqual(
      demo.rows.map((row: { model: string }) => row.model),
      ['cnn', 'separate', 'joint'],
    );
  });

  it('bad options fail with a message naming them, and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--lr', 'fast'], /--lr.*'fast'/],
      [['train', '--patches-per-expert', '40'], /patchesPerExpert.*1\.\.16.*40/],
      [['train', '--gate', 'soft'], /--gate.*soft.*softmax-selected/],
      [['train', '--delta-d', '1.5'], /deltaD.*1\.5/],
      [['train', '--wings', '2'], /unknown option '--wings'/],
    ];
    for (const [args, message] of cases) {
      const result = await pmoe(...args);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message);
    }
  });
});
