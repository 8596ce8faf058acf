import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeCifar10 } from '../../src/data/cifar10.js';
import { initEngine } from '../../src/engine/backend.js';
import { experimentByName } from '../../src/experiments/registry.js';
import { runKey } from '../../src/experiments/shard.js';
import { modelFlops } from '../../src/analysis/flops.js';
import { buildWrnModel, trainableParams } from '../../src/models/wide-resnet.js';
import { isImageRunSpec, planImageRun, runOnce, type ImageRunRecord, type ImageRunSpec, type RunSpec } from '../../src/training/run.js';
import { parseOptions } from '../../src/util/options.js';
import { presenceFolders } from '../support/data-folders.js';

function expand(name: string, options: Record<string, unknown>): ImageRunSpec[] {
  const experiment = experimentByName(name);
  const specs: RunSpec[] = experiment.specs(parseOptions(experiment.schema, options, name));
  assert.ok(specs.every(isImageRunSpec), `${name} expands to image runs`);
  return specs as ImageRunSpec[];
}

/** The data-folder options of each experiment. */
const FOLDER_OPTIONS: Record<string, readonly ('cifarDir' | 'celebaDir' | 'backgroundDir')[]> = {
  fig10: ['celebaDir'],
  fig11: ['celebaDir'],
  fig12: ['celebaDir'],
  fig14: ['cifarDir'],
  fig15: ['cifarDir', 'backgroundDir'],
  fig16: ['cifarDir'],
  'wrn-mnist': [],
  'wrn-fashion': [],
};

const numbers = (record: ImageRunRecord) =>
  JSON.stringify({
    ...record,
    epochs: record.epochs.map(({ trainSeconds, seconds, ...rest }) => rest),
    trainTimeMs: 0,
    dataTimeMs: 0,
    wallTimeMs: 0,
    provenance: undefined,
  });

describe('WRN experiments (Figures 10-16, wrn-mnist)', () => {
  let root: string;
  let folders: Awaited<ReturnType<typeof presenceFolders>>;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'pmoe-wrn-'));
    folders = await presenceFolders(root);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("defaults are the paper's: N per figure, 2 models x 5 seeds, w = 10, 50 epochs, batch 128, lr 0.1, BN 0.99, the code's k and l", () => {
    const expected = {
      fig10: {
        source: 'celeba-smiling',
        sizes: [2000, 4000, 6000, 8000, 10000],
        dirs: ['celebaDir'],
        pmoe: { patchSize: 4, experts: 8, patchesPerExpert: 2, kernelSize: 3 },
      },
      fig11: {
        source: 'celeba-spurious',
        sizes: [5000, 10000, 15000, 20000, 25000],
        dirs: ['celebaDir'],
        pmoe: { patchSize: 4, experts: 8, patchesPerExpert: 2, kernelSize: 3 },
      },
      fig12: {
        source: 'celeba-smiling-eyeglasses',
        sizes: [4000, 8000, 12000, 16000],
        dirs: ['celebaDir'],
        pmoe: { patchSize: 4, experts: 8, patchesPerExpert: 2, kernelSize: 3 },
      },
      fig14: {
        source: 'cifar10',
        sizes: [20000, 30000, 40000, 50000],
        dirs: ['cifarDir'],
        pmoe: { patchSize: 1, experts: 4, patchesPerExpert: 16, kernelSize: 1 },
      },
      fig15: {
        source: 'cifar-background',
        sizes: [10000, 20000, 30000, 40000, 50000],
        dirs: ['cifarDir', 'backgroundDir'],
        pmoe: { patchSize: 1, experts: 4, patchesPerExpert: 16, kernelSize: 1 },
      },
      fig16: {
        source: 'cifar-vehicles',
        sizes: [4000, 8000, 12000, 16000, 20000],
        dirs: ['cifarDir'],
        pmoe: { patchSize: 1, experts: 4, patchesPerExpert: 16, kernelSize: 1 },
      },
    } as const;
    for (const [name, want] of Object.entries(expected)) {
      const options = Object.fromEntries(want.dirs.map((dir) => [dir, folders[dir]]));
      const specs = expand(name, options);
      const sizes = want.sizes;
      assert.equal(specs.length, sizes.length * 2 * 5, name);
      assert.equal(new Set(specs.map(runKey)).size, specs.length, `${name}: every run is distinct`);
      assert.deepEqual([...new Set(specs.map((s) => s.data.trainSize))], [...sizes]);
      for (const spec of specs) {
        assert.equal(spec.data.source, want.source);
        assert.deepEqual(spec.training, { epochs: 50, batchSize: 128, learningRate: 0.1, seed: spec.training?.seed });
        assert.equal(spec.data.seed, spec.training?.seed, 'the run seed draws the training images');
        assert.equal(spec.model.wideningFactor, 10);
        assert.equal(spec.model.batchNormMomentum, 0.99);
        if (spec.model.architecture === 'wrn-pmoe')
          assert.deepEqual(
            { ...spec.model, architecture: undefined, wideningFactor: undefined, batchNormMomentum: undefined },
            { architecture: undefined, wideningFactor: undefined, batchNormMomentum: undefined, ...want.pmoe },
          );
        else assert.deepEqual(Object.keys(spec.model).sort(), ['architecture', 'batchNormMomentum', 'wideningFactor']);
        for (const dir of want.dirs) assert.equal((spec.data as Record<string, unknown>)[dir === 'backgroundDir' ? 'backgroundDir' : 'dir'], folders[dir]);
        // Every option resolves: data, model (k divides 64w, patches tile the map) and training.
        planImageRun(spec);
      }
      assert.deepEqual([...new Set(specs.map((s) => s.training?.seed))], [0, 1, 2, 3, 4]);
    }
  });

  it('wrn-mnist: a reduced scale on MNIST quadrants (w = 1, N = 250..2000, 2 seeds, 6 epochs of batch 32, BN 0.9) with the CIFAR routing', () => {
    const specs = expand('wrn-mnist', {});
    assert.equal(specs.length, 4 * 2 * 2);
    assert.deepEqual([...new Set(specs.map((s) => s.data.trainSize))], [250, 500, 1000, 2000]);
    for (const spec of specs) {
      assert.equal(spec.data.source, 'mnist-quadrants');
      assert.deepEqual([spec.training?.epochs, spec.training?.batchSize, spec.training?.learningRate], [6, 32, 0.1]);
      assert.deepEqual([spec.model.wideningFactor, spec.model.batchNormMomentum], [1, 0.9]);
      const plan = planImageRun(spec);
      assert.deepEqual(plan.data.imageShape, [32, 32, 1]);
      if (plan.model.architecture === 'wrn-pmoe')
        assert.deepEqual(
          [plan.model.patchSize, plan.model.experts, plan.model.patchesPerExpert, plan.model.kernelSize, plan.model.gate],
          [1, 4, 16, 1, 'softmax-all'],
        );
    }
  });

  it('width, epochs and N scale by option; quick is smaller than full; unknown options are refused', () => {
    const specs = expand('fig16', {
      cifarDir: folders.cifarDir,
      wideningFactor: 2,
      epochs: 3,
      sizeScale: 0.1,
      seeds: 2,
      models: ['wrn-pmoe'],
      patchesPerExpert: 8,
    });
    assert.deepEqual([...new Set(specs.map((s) => s.data.trainSize))], [400, 800, 1200, 1600, 2000]);
    assert.equal(specs.length, 5 * 2);
    assert.ok(
      specs.every((s) => s.model.wideningFactor === 2 && s.training?.epochs === 3 && s.model.architecture === 'wrn-pmoe' && s.model.patchesPerExpert === 8),
    );
    for (const [name, dirs] of Object.entries(FOLDER_OPTIONS)) {
      const experiment = experimentByName(name);
      const given = Object.fromEntries(dirs.map((dir) => [dir, folders[dir]]));
      const full = experiment.specs(parseOptions(experiment.schema, given, name));
      const quick = experiment.specs(parseOptions(experiment.schema, { ...experiment.quick, ...given }, name));
      assert.ok(quick.length > 0 && quick.length < full.length, `${name}: quick ${quick.length} vs full ${full.length}`);
      assert.throws(() => parseOptions(experiment.schema, { ...given, wings: 2 }, name), /unknown option 'wings'/);
    }
    // Model options are checked per run (as the sweep's preflight does) before any data is read.
    assert.throws(() => expand('wrn-mnist', { experts: 5 }).forEach(planImageRun), /model\.experts: must divide 64 \* wideningFactor = 64/);
  });

  it('formulation and routerInit reach the WRN-pMoE runs only, head (binary figures) both models; at their defaults the specs and keys are unchanged', () => {
    const plain = expand('wrn-mnist', { sizes: [24], seeds: 2 });
    const official = expand('wrn-mnist', { sizes: [24], seeds: 2, formulation: 'official', routerInit: 'identical' });
    assert.deepEqual(expand('wrn-mnist', { sizes: [24], seeds: 2, formulation: 'sparse' }).map(runKey), plain.map(runKey), 'sparse is the default: same keys');
    assert.ok(plain.every((spec) => !('formulation' in spec.model) && !('routerInit' in spec.model)));
    for (const [i, spec] of official.entries()) {
      if (spec.model.architecture === 'wrn') {
        assert.equal(runKey(spec), runKey(plain[i]), 'a WRN run does not depend on the formulation (it pairs with the sparse sweep’s)');
      } else {
        assert.deepEqual([spec.model.formulation, spec.model.routerInit], ['official', 'identical']);
        assert.notEqual(runKey(spec), runKey(plain[i]));
        assert.deepEqual(
          [planImageRun(spec).model].map((m) => m.architecture === 'wrn-pmoe' && [m.formulation, m.routerInit]),
          [['official', 'identical']],
        );
      }
    }
    for (const name of ['fig10', 'fig11']) {
      const specs = expand(name, { celebaDir: folders.celebaDir, head: 'sigmoid', sizes: [100], seeds: 1 });
      assert.deepEqual(
        specs.map((spec) => [spec.model.architecture, spec.model.head, planImageRun(spec).model.head]),
        [
          ['wrn', 'sigmoid', 'sigmoid'],
          ['wrn-pmoe', 'sigmoid', 'sigmoid'],
        ],
      );
    }
    assert.throws(() => parseOptions(experimentByName('fig12').schema, { celebaDir: folders.celebaDir, head: 'sigmoid' }, 'fig12'), /unknown option 'head'/);
    assert.throws(() => expand('wrn-mnist', { formulation: 'dense' }), /formulation/);
  });

  it('a missing or incomplete data folder fails the options before any run, naming the folder, the files expected and that nothing is downloaded', async () => {
    const cases: [string, Record<string, unknown>, RegExp[]][] = [
      [
        'fig14',
        {},
        [/fig14\.cifarDir: not given/, /data_batch_1\.bin \.\. data_batch_5\.bin and test_batch\.bin/, /pmoe downloads nothing/, /--set cifarDir=/],
      ],
      ['fig10', {}, [/fig10\.celebaDir: not given/, /img_align_celeba\/.*list_attr_celeba\.txt and list_eval_partition\.txt/, /downloads nothing/]],
      ['fig15', { cifarDir: folders.cifarDir }, [/fig15\.backgroundDir: not given/, /\.jpg or \.jpeg/]],
      ['fig16', { cifarDir: join(root, 'nowhere') }, [/fig16\.cifarDir: .*nowhere is not a folder/]],
    ];
    for (const [name, options, patterns] of cases) {
      const experiment = experimentByName(name);
      assert.throws(
        () => parseOptions(experiment.schema, options, name),
        (error: Error) => {
          assert.equal(error.name, 'OptionError');
          for (const pattern of patterns) assert.match(error.message, pattern);
          return true;
        },
      );
    }
    const partial = join(root, 'partial');
    await mkdir(partial);
    await writeFile(join(partial, 'data_batch_1.bin'), '');
    assert.throws(() => parseOptions(experimentByName('fig14').schema, { cifarDir: partial }, 'fig14'), /lacks .*data_batch_2\.bin.*test_batch\.bin/);
  });

  it('one tiny wrn-mnist run per model through runOnce: finite numbers, the analytic FLOPs and parameters of the model it trained, the same record on a rerun', async () => {
    await initEngine('wasm');
    const specs = [
      ...expand('wrn-mnist', { sizes: [24], seeds: 1, epochs: 1, testSize: 16 }),
      ...expand('wrn-mnist', { sizes: [24], seeds: 1, epochs: 1, testSize: 16, models: ['wrn-pmoe'], formulation: 'official' }),
    ];
    assert.equal(specs.length, 3);
    for (const spec of specs) {
      const record = await runOnce(spec);
      assert.equal(record.kind, 'image');
      assert.equal(record.backend, 'wasm');
      assert.equal(record.steps, 1);
      assert.equal(record.epochs.length, 1);
      const e = record.epochs[0];
      for (const value of [e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy, record.finalTestAccuracy, record.wallTimeMs, record.trainTimeMs])
        assert.ok(Number.isFinite(value), JSON.stringify(record));
      assert.equal(record.finalTestAccuracy, e.testAccuracy);
      assert.deepEqual([record.data.trainSize, record.data.testSize, record.data.seed, record.data.testSeed], [24, 16, 0, 0]);
      const model = buildWrnModel(record.model);
      const flops = modelFlops(model, 1);
      assert.equal(record.flops.forwardPerSample, flops.forward);
      assert.equal(record.flops.trainStepPerSample, flops.trainStep);
      assert.equal(record.flops.training, flops.trainStep * 24);
      assert.equal(record.trainableParams, trainableParams(model));
      if (record.model.architecture === 'wrn-pmoe') {
        const moe = flops.perLayer.find((l) => l.className === 'PatchMoE')!;
        assert.deepEqual(record.flops.patchMoe, moe.parts);
        // Sparse: 4 experts x 16 of the 64 positions, 1x1 conv 64 -> 16; official: every position.
        const positions = record.model.formulation === 'official' ? 64 : 16;
        assert.equal(record.flops.patchMoe?.experts, 4 * positions * 2 * 64 * 16, record.model.formulation);
      } else assert.equal(record.flops.patchMoe, undefined);
      model.dispose();
      assert.equal(numbers(await runOnce(spec)), numbers(record), 'same spec, same record (timings aside)');
    }
  });

  it('a tiny fig14 run from CIFAR-10 files in the binary format, through the experiment', async () => {
    await initEngine('wasm');
    const dir = join(root, 'cifar-fixture');
    await mkdir(dir);
    // 20 records per file, labels 0..9 twice; pixel values vary with image, position and channel.
    const records = (offset: number) => {
      const count = 20;
      const pixels = new Uint8Array(count * 3072);
      for (let i = 0; i < pixels.length; i++) pixels[i] = (offset * 31 + i * 7 + Math.floor(i / 3072) * 13) % 256;
      return encodeCifar10(
        pixels,
        Array.from({ length: count }, (_, i) => i % 10),
      );
    };
    for (let b = 1; b <= 5; b++) await writeFile(join(dir, `data_batch_${b}.bin`), records(b));
    await writeFile(join(dir, 'test_batch.bin'), records(9));
    const options = {
      cifarDir: dir,
      cifarRecordsPerFile: 'any',
      sizes: [20],
      testSize: 10,
      seeds: 1,
      epochs: 1,
      wideningFactor: 1,
      batchNormMomentum: 0.9,
      models: ['wrn-pmoe'],
    };
    const [spec, ...rest] = expand('fig14', options);
    assert.equal(rest.length, 0);
    const record = await runOnce(spec);
    assert.equal(record.data.source, 'cifar10');
    assert.equal(record.classNames.length, 10);
    assert.deepEqual([record.data.trainSize, record.data.testSize, record.steps], [20, 10, 1]);
    assert.ok(Number.isFinite(record.finalTestAccuracy) && record.finalTestAccuracy >= 0 && record.finalTestAccuracy <= 1);
    assert.equal(record.flops.forwardPerSample, modelFlops(buildWrnModel(record.model), 1).forward);
    // The real files hold 10000 records each; without 'any' the fixture is refused, naming the file.
    const [strict] = expand('fig14', { ...options, cifarRecordsPerFile: 10000 });
    await assert.rejects(runOnce(strict), /cifar-fixture\/(data|test)_batch(_\d)?\.bin: holds 20 records .* but expected 10000 records/);
  });
});
