import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routerDatasetOf, routers, routerVariantOf, ROUTER_MODELS } from '../../src/experiments/routers.js';
import { fig4 } from '../../src/experiments/mnist-experiments.js';
import { runKey } from '../../src/experiments/shard.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { parseOptions } from '../../src/util/options.js';
import { initEngine } from '../../src/engine/backend.js';

describe('pmoe reproduce routers', () => {
  const options = parseOptions(routers.schema, {}, 'routers');
  const specs = routers.specs(options);

  it('4 data sets x 6 models x 4 N x 5 seeds, every run distinct, each read back as its data set and router', () => {
    assert.equal(specs.length, 480);
    assert.equal(routers.runCount(options), 480);
    assert.equal(new Set(specs.map(runKey)).size, 480);
    const seen = new Set(specs.map((s) => `${routerDatasetOf(s.data as { source: string })}/${routerVariantOf(s.model, String(s.training?.model))}`));
    assert.equal(seen.size, 24);
    for (const spec of specs) assert.equal(routers.runProblem(spec), undefined);
    assert.match(routers.runProblem({ ...specs[0], training: { model: 'separate' } }) ?? '', /train the CNN or joint pMoE; this one trains separate/);
  });

  it("the paper's router gives the same runs as fig4's joint pMoE; the others are at matched compute (k l = 48 assignments per image)", async () => {
    await initEngine('cpu');
    const joint = specs.find(
      (s) =>
        s.data.source === 'mnist-patch' &&
        routerVariantOf(s.model, String(s.training?.model)) === 'expert-choice' &&
        s.data.trainSize === 1000 &&
        s.training?.seed === 0,
    )!;
    assert.equal(joint.model?.router, undefined);
    const fig4Joint = fig4.specs(parseOptions(fig4.schema, { models: ['joint'], sizes: [1000], seeds: 1 }, 'fig4'))[0];
    assert.deepEqual([joint.model?.experts, joint.model?.neuronsPerExpert, joint.model?.patchesPerExpert, joint.model?.gate], [8, 5, 6, 'softmax-selected']);
    assert.deepEqual(joint.data, fig4Joint.data);
    const settings = Object.fromEntries(
      ROUTER_MODELS.filter((m) => m !== 'cnn' && m !== 'expert-choice').map((m) => [
        m,
        specs.find((s) => routerVariantOf(s.model, String(s.training?.model)) === m)!.model?.router,
      ]),
    );
    assert.deepEqual(settings, {
      'token-choice': { name: 'token-choice', topK: 3, capacityFactor: 1 },
      'token-choice-bpr': { name: 'token-choice', topK: 3, capacityFactor: 1, batchPriority: true, groupSize: 20 },
      'batch-expert-choice': { name: 'batch-expert-choice', capacityFactor: 3, groupSize: 20 },
      'soft-moe': { name: 'soft-moe', slotsPerExpert: 6 },
    });
    // Each router's buffers hold 48 places per image: 8 experts x 6.
    for (const router of Object.values(settings)) {
      const model = new TwoLayerPmoe({ patchCount: 16, patchDim: 4, router: router as never });
      const places = model.router.host?.places(20, 'train') ?? 20 * 6;
      assert.equal(8 * places, 48 * 20, JSON.stringify(router));
      model.dispose();
    }
  });

  it('the hard pair is 9 vs 4 with the other digits as fillers; matched compute must be whole', () => {
    const hard = specs.find((s) => routerDatasetOf(s.data as { source: string }) === 'mnist-hard')!;
    assert.deepEqual((hard.data as { discriminativeDigits?: readonly number[] }).discriminativeDigits, [9, 4]);
    assert.throws(() => parseOptions(routers.schema, { patchesPerExpert: 5 }, 'routers'), /matched compute needs k l \/ n whole/);
  });
});
