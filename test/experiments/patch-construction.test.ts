import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fig4, fig4Fashion, fig5 } from '../../src/experiments/mnist-experiments.js';
import { fig6 } from '../../src/experiments/fig6.js';
import { DIGIT_PAIRS, pairAtlas, pairConstruction } from '../../src/experiments/pair-atlas.js';
import { EXPERIMENTS } from '../../src/experiments/registry.js';
import { runKey } from '../../src/experiments/shard.js';
import { parseOptions } from '../../src/util/options.js';

describe('the MNIST-patch construction of the experiments', () => {
  it("fig4's runs name no construction unless one is set, so existing results keep their keys", () => {
    const specs = fig4.specs(parseOptions(fig4.schema, {}, 'fig4'));
    for (const spec of specs) assert.deepEqual(Object.keys(spec.data).sort(), ['sampleSeed', 'source', 'testCount', 'trainSize']);
  });

  it('--set discriminativeDigits, fillDigits and gridSize reach every run of every MNIST experiment', () => {
    const set = { discriminativeDigits: [3, 8], fillDigits: [0, 1, 2], gridSize: 3 };
    for (const name of ['fig4', 'fig4-fashion', 'fig5', 'fig6', 'fig7', 'fig8', 'fig9']) {
      const experiment = EXPERIMENTS[name];
      const specs = experiment.specs(parseOptions(experiment.schema, { ...experiment.quick, ...set }, name));
      assert.ok(specs.length > 0);
      for (const spec of specs) {
        const data = spec.data as Record<string, unknown>;
        assert.deepEqual([data.discriminativeDigits, data.fillDigits, data.gridSize], [[3, 8], [0, 1, 2], 3], name);
      }
    }
  });

  it('a bad construction fails the options, naming the option and what is allowed', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ discriminativeDigits: [3, 8], fillDigits: [8, 1] }, /fig4\.fillDigits: must not contain a discriminative digit: \[8, 1\] shares 8/],
      [{ discriminativeDigits: [3, 3] }, /fig4\.discriminativeDigits: must not repeat a digit/],
      [{ discriminativeDigits: [3, 12] }, /fig4\.discriminativeDigits\.1: must be an integer in 0\.\.9/],
      [{ fillDigits: 'nine' }, /fig4\.fillDigits: must be an array of digits 0\.\.9/],
      [{ gridSize: 1 }, /fig4\.gridSize: must be an integer >= 2/],
      [{ sizes: [100, 301] }, /fig4\.sizes: every N must be a multiple of the number of classes 2 \(N \/ 2 images per class\); 301 is not/],
    ];
    for (const [options, message] of cases) assert.throws(() => parseOptions(fig4.schema, options, 'fig4'), message);
    assert.throws(() => parseOptions(fig5.schema, { discriminativeDigits: [1] }, 'fig5'), /fig5\.discriminativeDigits: must list at least 2 digits/);
    assert.throws(() => parseOptions(fig6.schema, { dataset: 'emnist' }, 'fig6'), /fig6\.dataset: must be one of 'mnist', 'fashion'/);
  });

  it("fig4-fashion is fig4's protocol on fashion-patch data; --set dataset=fashion does the same for any MNIST experiment", () => {
    const fashion = fig4Fashion.specs(parseOptions(fig4Fashion.schema, {}, 'fig4-fashion'));
    const mnist = fig4.specs(parseOptions(fig4.schema, {}, 'fig4'));
    assert.equal(fashion.length, 90);
    fashion.forEach((spec, i) => {
      assert.equal(spec.data.source, 'fashion-patch');
      assert.deepEqual({ ...spec, data: { ...spec.data, source: 'mnist-patch' } }, mnist[i]);
    });
    const viaSet = fig5.specs(parseOptions(fig5.schema, { ...fig5.quick, dataset: 'fashion' }, 'fig5'));
    assert.ok(viaSet.every((spec) => spec.data.source === 'fashion-patch'));
  });
});

describe('pair atlas', () => {
  it('covers the 45 pairs of distinct digits, each with the other eight as fillers and the larger digit as class 0', () => {
    assert.equal(DIGIT_PAIRS.length, 45);
    assert.equal(new Set(DIGIT_PAIRS.map(([a, b]) => `${a}${b}`)).size, 45);
    assert.ok(DIGIT_PAIRS.every(([a, b]) => a < b));
    assert.deepEqual(pairConstruction([0, 1]), { discriminativeDigits: [1, 0], fillDigits: [2, 3, 4, 5, 6, 7, 8, 9] });
    assert.deepEqual(pairConstruction([7, 3]), { discriminativeDigits: [7, 3], fillDigits: [0, 1, 2, 4, 5, 6, 8, 9] });
  });

  it("the full protocol is 45 pairs x 2 N x 3 models x 3 seeds at fig4's setting, evaluated after the last epoch", () => {
    const specs = pairAtlas.specs(parseOptions(pairAtlas.schema, {}, 'pair-atlas'));
    assert.equal(specs.length, 810);
    assert.equal(new Set(specs.map(runKey)).size, 810);
    for (const spec of specs) {
      assert.equal(spec.training?.epochs, 150);
      assert.equal(spec.training?.evalEvery, 150);
      assert.equal(spec.training?.learningRate, 0.2);
    }
    const separate = specs.find((s) => s.training?.model === 'separate')!;
    assert.equal(separate.model?.patchesPerExpert, 2);
    // The same pair given twice, or in the other order, is one pair.
    const twice = pairAtlas.specs(
      parseOptions(
        pairAtlas.schema,
        {
          pairs: [
            [2, 5],
            [5, 2],
          ],
          sizes: [300],
          seeds: 1,
        },
        'pair-atlas',
      ),
    );
    assert.equal(twice.length, 3);
    assert.throws(() => parseOptions(pairAtlas.schema, { pairs: [[4, 4]] }, 'pair-atlas'), /pairs\.0: must be two different digits/);
    assert.throws(() => parseOptions(pairAtlas.schema, { fillDigits: [1] }, 'pair-atlas'), /unknown option 'fillDigits'/);
  });
});
