import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  patchRoutingShares,
  quadrantOfPatch,
  spuriousGroups,
  spuriousMetrics,
  spuriousMetricsOfGroups,
  worstGroup,
} from '../../src/analysis/spurious-metrics.js';
import type { PatchDataset } from '../../src/data/dataset.js';
import type { RoutedPatchModel } from '../../src/models/patch-model.js';

const names = { strength: 0.9, classNames: ['one', 'zero'], itemNames: ['six', 'seven'] };

describe('spurious metrics', () => {
  // 8 images: classes 0,0,0,0,1,1,1,1 with items 0,0,1,1,0,0,1,1; the model gets 3 of the 4 (class, item) groups right.
  const labels = [0, 0, 0, 0, 1, 1, 1, 1];
  const items = [0, 0, 1, 1, 0, 0, 1, 1];
  const predicted = [0, 0, 0, 1, 0, 0, 1, 1];

  it('accuracy per (class, item) group, the worst group, balanced and reversed accuracy', () => {
    const groups = spuriousGroups(labels, items, predicted, names.classNames, names.itemNames);
    assert.deepEqual(
      groups.map((g) => [g.name, g.count, g.accuracy]),
      [
        ['one, six', 2, 1],
        ['one, seven', 2, 0.5],
        ['zero, six', 2, 0],
        ['zero, seven', 2, 1],
      ],
    );
    assert.equal(worstGroup(groups), 0);
    // Reversed set: each image with the other item; the model follows the item there: right only where item = class.
    const reversed = { labels, items: items.map((j) => 1 - j), predicted: items.map((j) => 1 - j) };
    const metrics = spuriousMetrics(names, { labels, items, predicted }, reversed);
    assert.equal(metrics.balancedAccuracy, 5 / 8);
    assert.equal(metrics.worstGroupAccuracy, 0);
    assert.equal(metrics.reversedAccuracy, 4 / 8);
    assert.equal(metrics.reversedFrom, 'reversed set');
  });

  it('groups given (CelebA): reversed accuracy is the accuracy over the groups whose item is not the class own; an empty group is left out of the worst', () => {
    const metrics = spuriousMetricsOfGroups(names, { labels, items, predicted });
    // Minority images: (0, item 1) x2 -> 1 of 2 right; (1, item 0) x2 -> 0 of 2.
    assert.equal(metrics.reversedAccuracy, 1 / 4);
    assert.equal(metrics.reversedFrom, 'minority groups');
    const lopsided = spuriousGroups([0, 0, 1], [0, 0, 1], [0, 1, 1], names.classNames, names.itemNames);
    assert.equal(lopsided[1].count, 0);
    assert.ok(Number.isNaN(lopsided[1].accuracy));
    assert.equal(worstGroup(lopsided), 0.5);
  });

  it('routing shares: per expert, the images whose class patch (spurious patch) are among its l, per class (item)', async () => {
    await tf.setBackend('cpu');
    // 4 images of 3 patches; expert 0 takes patch 0, expert 1 patch 2 of every image.
    const data: PatchDataset & { spurious: { values: Int32Array; patch: Int32Array } } = {
      patches: new Float32Array(4 * 3 * 2),
      labels: Int32Array.from([0, 0, 1, 1]),
      discriminativePatch: Int32Array.from([0, 1, 0, 1]),
      count: 4,
      patchCount: 3,
      patchDim: 2,
      classes: 2,
      spurious: { values: Int32Array.from([0, 1, 1, 0]), patch: Int32Array.from([2, 2, 1, 2]) },
    };
    const model = {
      routing: (patches: tf.Tensor3D) => {
        const batch = patches.shape[0];
        return { indices: tf.tensor3d(Array.from({ length: batch }, () => [[0], [2]]).flat(2), [batch, 2, 1], 'int32'), gates: tf.ones([batch, 2, 1]) };
      },
    } as unknown as RoutedPatchModel;
    const shares = patchRoutingShares(model, data);
    assert.equal(shares.unit, 'images');
    // Expert 0 takes patch 0: the class patch of images 0 (class 0) and 2 (class 1); no spurious patch sits at 0.
    assert.deepEqual(shares.experts[0], { truePatch: [0.5, 0.5], spuriousPatch: [0, 0] });
    // Expert 1 takes patch 2: no class patch; the spurious patch of images 0 (item 0), 1 (item 1) and 3 (item 0).
    assert.deepEqual(shares.experts[1], { truePatch: [0, 0], spuriousPatch: [1, 0.5] });
  });

  it('quadrants of a row-major grid', () => {
    // 8 x 8 grid: patch 0 top-left, 7 top-right, 56 bottom-left, 63 bottom-right; 27 (row 3, col 3) top-left, 36 (row 4, col 4) bottom-right.
    assert.deepEqual(
      [0, 7, 56, 63, 27, 36, 4, 32].map((p) => quadrantOfPatch(p, 8, 8)),
      [0, 1, 2, 3, 0, 3, 1, 2],
    );
  });
});
