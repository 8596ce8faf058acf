/**
 * The page's training data: the digit pool it ships decodes to the MNIST splits it was made from,
 * and the data the worker makes (makeBrowserData) are exactly those loadData makes for the same
 * run spec, the pool given as MNIST files; so the page trains on what `runOnce` would.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadData } from '../../src/data/source.js';
import { commandOf, makeBrowserData, runSpecOf, type BrowserRunSettings } from '../../src/web/browser-run.js';
import { decodeShippedSplit, type ShippedDigitPool } from '../../src/web/digit-pool.js';
import { makeDigitPool, writeDigitPoolIdx } from '../../src/web/make-digit-pool.js';

const SETTINGS: BrowserRunSettings = {
  source: 'mnist-patch',
  model: 'joint',
  trainSize: 40,
  experts: 8,
  patchesPerExpert: 6,
  gate: 'softmax-selected',
  epochs: 2,
  seed: 3,
};

describe('the page training data', () => {
  let dir = '';
  let pool: ShippedDigitPool;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-browser-run-'));
    pool = await makeDigitPool({ train: 20, test: 10 });
    await writeDigitPoolIdx(pool, dir);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the digit pool holds the first images of each digit of each split, in MNIST order', async () => {
    const train = await decodeShippedSplit(pool, 'train');
    assert.equal(train.count, 200);
    assert.equal(train.images.length, 200 * 784);
    for (let digit = 0; digit <= 9; digit++) assert.equal(train.labels.filter((label) => label === digit).length, 20);
    const test = await decodeShippedSplit(pool, 'test');
    assert.equal(test.count, 100);
  });

  it('a damaged pool is refused, naming the split', async () => {
    const damaged = { ...pool, test: { ...pool.test, count: pool.test.count + 1 } };
    await assert.rejects(decodeShippedSplit(damaged, 'test'), /digit pool \(test\) is damaged: 78400 pixel bytes and 100 labels for 101 images/);
  });

  for (const source of ['mnist-patch', 'synthetic'] as const) {
    it(`${source}: the worker's data are loadData's for the same run spec`, async () => {
      const settings = { ...SETTINGS, source };
      const mnist = { train: await decodeShippedSplit(pool, 'train'), test: await decodeShippedSplit(pool, 'test') };
      const inPage = makeBrowserData(runSpecOf(settings), mnist);
      const inNode = await loadData(runSpecOf(settings, dir).data);
      for (const set of ['train', 'test'] as const) {
        assert.equal(inPage[set].count, inNode[set].count);
        assert.deepEqual(inPage[set].labels, inNode[set].labels);
        assert.deepEqual(inPage[set].discriminativePatch, inNode[set].discriminativePatch);
        assert.deepEqual(inPage[set].patches, inNode[set].patches);
      }
      assert.equal(inPage.gridSize, 4);
    });
  }

  it('the shell command names the same run', () => {
    assert.equal(
      commandOf(SETTINGS),
      'pmoe train --data mnist-patch --train-size 40 --model joint --experts 8 --patches-per-expert 6 --gate softmax-selected --epochs 2 --seed 3',
    );
    assert.equal(commandOf({ ...SETTINGS, model: 'cnn' }), 'pmoe train --data mnist-patch --train-size 40 --model cnn --epochs 2 --seed 3');
    assert.deepEqual(runSpecOf(SETTINGS).data, { source: 'mnist-patch', trainSize: 40, sampleSeed: 3 });
    assert.deepEqual(runSpecOf({ ...SETTINGS, source: 'synthetic' }).data, { source: 'synthetic', trainSize: 40, seed: 3 });
  });
});
