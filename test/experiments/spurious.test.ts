import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { fig4 } from '../../src/experiments/mnist-experiments.js';
import { experimentRunProblem } from '../../src/experiments/registry.js';
import { runKey } from '../../src/experiments/shard.js';
import { spurious } from '../../src/experiments/spurious.js';
import { wrnMnist } from '../../src/experiments/wrn-experiments.js';
import { runOnce, type ImageRunSpec, type PatchRunSpec, type RunSpec } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';

const plan = (options: Record<string, unknown>) => spurious.specs(parseOptions(spurious.schema, options, 'spurious'));
const strengthOf = (spec: RunSpec) => (spec.data as { spuriousStrength?: number }).spuriousStrength;

describe('pmoe reproduce spurious', () => {
  it('the default plan: grids 3 models x 2 data sets x 4 s x 3 N x 5 seeds, synthetic, WRN at s = 0.5 and 0.99; every run distinct', () => {
    const grids = plan({ parts: ['grids'] }) as PatchRunSpec[];
    assert.equal(grids.length, 3 * 2 * 4 * 3 * 5);
    assert.deepEqual([...new Set(grids.map(strengthOf))], [0.5, 0.8, 0.95, 0.99]);
    assert.deepEqual([...new Set(grids.map((s) => s.data.source))], ['mnist-patch', 'fashion-patch']);
    assert.ok(grids.every((s) => s.training?.evalEvery === 150 && s.training.epochs === 150));
    // The same runs as Figure 4's, but for the spurious feature and the one evaluation.
    const fig4Runs = fig4.specs(parseOptions(fig4.schema, { sizes: [200], seeds: 1, evalEvery: 150, spuriousStrength: 0.8 }, 'fig4'));
    for (const run of fig4Runs) assert.ok(grids.some((g) => runKey(g) === runKey(run)));

    // Synthetic: CNN, separate at l = 1, 2, 4, 8, joint at l = 2, 4, 8 (a softmax over one score never trains), 2 N, 5 seeds, 4 s.
    const synthetic = plan({ parts: ['synthetic'] }) as PatchRunSpec[];
    assert.equal(synthetic.length, (1 + 4 + 3) * 2 * 5 * 4);
    assert.ok(synthetic.every((s) => s.data.source === 'synthetic' && (s.data as { n?: number }).n === 16));

    const wrn = plan({ parts: ['wrn'] }) as ImageRunSpec[];
    assert.equal(wrn.length, 2 * 2 * 2 * 3);
    assert.deepEqual([...new Set(wrn.map(strengthOf))], [0.5, 0.99]);
    assert.ok(wrn.every((s) => s.training?.epochs === 30 && s.data.trainSize % 32 === 0));
    assert.equal(new Set([...grids, ...synthetic, ...wrn].map(runKey)).size, grids.length + synthetic.length + wrn.length);
    assert.equal(spurious.runCount(parseOptions(spurious.schema, {}, 'spurious')), grids.length + synthetic.length + wrn.length);
  });

  it('a spurious strength outside 0.5..1 is refused before any run; the runs it makes read back as its own, others do not', () => {
    assert.throws(() => parseOptions(spurious.schema, { strengths: [0.4] }, 'spurious'), /strengths\.0: must be a finite number >= 0.5 and <= 1/);
    assert.throws(() => parseOptions(fig4.schema, { spuriousItems: [1, 2] }, 'fig4'), /spuriousItems: must be fill digits/);
    assert.throws(() => parseOptions(wrnMnist.schema, { spuriousStrength: 2 }, 'wrn-mnist'), /spuriousStrength: must be a finite number >= 0.5/);
    for (const spec of plan({})) assert.equal(experimentRunProblem('spurious', spec), undefined);
    assert.match(experimentRunProblem('spurious', { kind: 'image', data: { source: 'cifar10' } }) ?? '', /quadrant data/);
  });

  describe('runs record the spurious metrics', () => {
    before(() => initEngine('wasm'));

    it('a two-layer pMoE run: groups of the balanced set, worst group, reversed set, routing of each expert', async () => {
      const [spec] = plan({
        parts: ['grids'],
        datasets: ['mnist'],
        strengths: [0.95],
        sizes: [40],
        seeds: 1,
        models: ['separate'],
        epochs: 2,
        routerEpochs: 2,
      });
      const record = await runOnce({ ...spec, data: { ...spec.data, testCount: 40 } } as PatchRunSpec);
      const metrics = record.spurious!;
      assert.equal(metrics.strength, 0.95);
      assert.deepEqual(metrics.itemNames, ['digit 6', 'digit 7']);
      assert.deepEqual(
        metrics.groups.map((g) => g.count),
        [10, 10, 10, 10],
      );
      assert.equal(metrics.worstGroupAccuracy, Math.min(...metrics.groups.map((g) => g.accuracy)));
      assert.ok(Math.abs(metrics.balancedAccuracy - metrics.groups.reduce((sum, g) => sum + g.accuracy, 0) / 4) < 1e-12);
      assert.equal(metrics.routing?.unit, 'images');
      assert.equal(metrics.routing?.experts.length, 2);
      for (const expert of metrics.routing!.experts) for (const share of [...expert.truePatch, ...expert.spuriousPatch]) assert.ok(share >= 0 && share <= 1);
    });

    it('a WRN-pMoE run on quadrants: 16 groups, routing as shares of routed positions per quadrant', async () => {
      const [spec] = plan({ parts: ['wrn'], wrnDatasets: ['mnist'], wrnStrengths: [0.99], wrnSizes: [32], wrnSeeds: 1, wrnEpochs: 1, wrnModels: ['wrn-pmoe'] });
      const record = await runOnce({ ...spec, data: { ...spec.data, testSize: 64 } } as ImageRunSpec);
      const metrics = record.spurious!;
      assert.equal(metrics.groups.length, 16);
      assert.ok(metrics.groups.every((g) => g.count === 4));
      assert.deepEqual(metrics.itemNames, ['digit 4', 'digit 5', 'digit 6', 'digit 7']);
      assert.equal(metrics.routing?.unit, 'patches');
      assert.equal(metrics.routing?.experts.length, 4);
      for (const expert of metrics.routing!.experts) for (const share of [...expert.truePatch, ...expert.spuriousPatch]) assert.ok(share >= 0 && share <= 1);
    });
  });
});
