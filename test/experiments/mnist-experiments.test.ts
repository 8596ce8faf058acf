import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fig4, fig8 } from '../../src/experiments/mnist-experiments.js';
import { EXPERIMENTS, experimentByName } from '../../src/experiments/registry.js';
import { WRN_EXPERIMENTS } from '../../src/experiments/wrn-experiments.js';
import { runKey } from '../../src/experiments/shard.js';
import { parseOptions } from '../../src/util/options.js';

describe('named MNIST experiments', () => {
  it("fig4 defaults are the paper's protocol: 3 models x 6 N x 5 seeds, 150 epochs, batch 20, lr 0.2", () => {
    const specs = fig4.specs(parseOptions(fig4.schema, {}, 'fig4'));
    assert.equal(specs.length, 90);
    assert.equal(new Set(specs.map(runKey)).size, 90, 'every run is distinct');
    for (const spec of specs) {
      assert.equal(spec.training?.epochs, 150);
      assert.equal(spec.training?.batchSize, 20);
      assert.equal(spec.training?.learningRate, 0.2);
      assert.equal(spec.data.source, 'mnist-patch');
    }
    const joint = specs.find((s) => s.training?.model === 'joint')!;
    assert.deepEqual([joint.model?.experts, joint.model?.neuronsPerExpert, joint.model?.patchesPerExpert], [8, 5, 6]);
    const separate = specs.find((s) => s.training?.model === 'separate')!;
    assert.deepEqual(
      [separate.model?.experts, separate.model?.neuronsPerExpert, separate.model?.patchesPerExpert, separate.training?.routerEpochs],
      [2, 20, 2, 100],
    );
    assert.deepEqual([...new Set(specs.map((s) => s.data.trainSize))], [100, 300, 500, 700, 900, 1000]);
  });

  it('every experiment has a smaller quick version, and unknown options are refused', () => {
    // The WRN experiments need data folders; their own tests check the same with fixtures.
    for (const [name, experiment] of Object.entries(EXPERIMENTS).filter(([n]) => !(n in WRN_EXPERIMENTS))) {
      const full = experiment.specs(parseOptions(experiment.schema, {}, name));
      const quick = experiment.specs(parseOptions(experiment.schema, experiment.quick, name));
      assert.ok(quick.length > 0 && quick.length < full.length, `${name}: quick ${quick.length} vs full ${full.length}`);
      assert.throws(() => parseOptions(experiment.schema, { wings: 2 }, name), /unknown option 'wings'/);
    }
    assert.throws(() => experimentByName('fig99'), /unknown experiment 'fig99' \(did you mean fig9\?\); known: fig4/);
  });

  it('fig8 trains routers only, one run per (N_r, seed)', () => {
    const specs = fig8.specs(parseOptions(fig8.schema, {}, 'fig8'));
    assert.equal(specs.length, 50);
    assert.ok(specs.every((s) => s.training?.model === 'separate' && s.training?.epochs === 0 && s.training?.routerEpochs === 100));
  });
});
