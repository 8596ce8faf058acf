import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pmoe } from '../support/pmoe-cli.js';

const entry = new URL('../../src/index.js', import.meta.url).href;

describe('the library and the pmoe command', () => {
  it('give the same numbers for the same config and seed by default (both compute with fused multiply-adds)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmoe-agreement-'));
    try {
      const script = join(dir, 'library.mjs');
      writeFileSync(
        script,
        `const { initEngine, makeSyntheticSplit, trainModel } = await import(${JSON.stringify(entry)});
         await initEngine();
         const { train, test } = makeSyntheticSplit({ seed: 2 }, 60, 50);
         const result = trainModel({}, train, test, { model: 'joint', epochs: 3, seed: 2 });
         console.log(JSON.stringify({ epochs: result.epochs, routingRate: result.routingRate }));`,
      );
      const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.status, 0, child.stderr);
      const library = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { epochs: unknown; routingRate: unknown };
      const record = JSON.parse(
        await pmoe('train', '--model', 'joint', '--train-size', '60', '--test-size', '50', '--epochs', '3', '--seed', '2', '--json'),
      ) as {
        epochs: unknown;
        routingRate: unknown;
      };
      assert.deepEqual(record.epochs, library.epochs);
      assert.deepEqual(record.routingRate, library.routingRate);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
