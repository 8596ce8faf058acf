import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initEngine, tf } from '../../src/engine/backend.js';
import {
  base64ToFloat32,
  deserializeTwoLayerModel,
  deserializeTwoLayerPmoe,
  float32ToBase64,
  parsePmoeModelFile,
  parseTwoLayerModelFile,
  PmoeModelFileError,
  serializeTwoLayerModel,
  type PmoeModelFile,
} from '../../src/models/pmoe-model-file.js';
import { loadTwoLayerModel, readPmoeModelFile, saveTwoLayerModel } from '../../src/models/pmoe-model-io.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { freshRng, gaussian } from '../support/random.js';

function trainedLooking(options: ConstructorParameters<typeof TwoLayerPmoe>[0], label: string): TwoLayerPmoe {
  const model = new TwoLayerPmoe(options);
  const rng = freshRng(label);
  const { patchDim: d, experts: k, neuronsPerExpert: m } = model.config;
  // Weights unlike any seed's draw, so a loader that re-draws instead of reading would be caught.
  model.routers.assign(tf.tensor2d(Float32Array.from(gaussian(rng, d * k)), [d, k]));
  model.experts.assign(tf.tensor3d(Float32Array.from(gaussian(rng, k * d * m)), [k, d, m]));
  return model;
}

async function outputsOf(model: TwoLayerPmoe, patches: tf.Tensor3D) {
  const out = model.forwardWithRouting(patches);
  const result = { logits: await out.logits.data(), indices: await out.routing.indices.data(), gates: await out.routing.gates.data() };
  tf.dispose([out.logits, out.routing.indices, out.routing.gates]);
  return result;
}

describe('pmoe model file', () => {
  it('base64 float32 round-trips every value exactly, NaN and infinities included', () => {
    const values = Float32Array.from([0, -0, 1.5, -3.25e-8, 3.4e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Math.PI]);
    const back = base64ToFloat32(float32ToBase64(values));
    assert.deepEqual(Array.from(back).map(String), Array.from(values).map(String));
    assert.equal(Object.is(back[1], -0), true);
    // Little-endian on every platform: 1.0f is 00 00 80 3f.
    assert.equal(float32ToBase64(Float32Array.of(1)), 'AACAPw==');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`a saved model loads with the same weights, logits and routing (${backend}; binary and multiclass)`, async () => {
      await initEngine(backend);
      const dir = await mkdtemp(join(tmpdir(), 'pmoe-model-file-'));
      try {
        for (const [classes, gate] of [
          [2, 'softmax-selected'],
          [3, 'hard'],
        ] as const) {
          const model = trainedLooking(
            { patchCount: 6, patchDim: 5, experts: 3, neuronsPerExpert: 2, patchesPerExpert: 2, classes, gate, seed: 7 },
            `file-${classes}`,
          );
          const patches = tf.tensor3d(Float32Array.from(gaussian(freshRng(`patches-${classes}`), 4 * 6 * 5)), [4, 6, 5]);
          const extras = {
            data: { source: 'mnist-patch', trainSize: 40, gridSize: 4 },
            training: { model: 'joint', epochs: 3 },
            metrics: { testAccuracy: 0.75 },
          };
          const path = await saveTwoLayerModel(model, join(dir, `model-${classes}`), extras);
          assert.deepEqual(await readdir(join(dir, `model-${classes}`)), ['pmoe-model.json'], 'one file, no temporary left behind');
          const loaded = await loadTwoLayerModel(join(dir, `model-${classes}`));
          assert.equal(loaded.path, path);
          assert.ok(loaded.model instanceof TwoLayerPmoe);
          assert.equal(loaded.file.model, 'pmoe');
          assert.deepEqual(loaded.model.config, model.config);
          assert.deepEqual(loaded.file.data, extras.data);
          assert.deepEqual(loaded.file.training, extras.training);
          assert.deepEqual(loaded.file.metrics, extras.metrics);
          for (const name of ['routers', 'experts', 'output'] as const) {
            assert.deepEqual(Array.from(loaded.model[name].dataSync()), Array.from(model[name].dataSync()), name);
          }
          assert.deepEqual(await outputsOf(loaded.model, patches), await outputsOf(model, patches));
          // The file itself is plain JSON that a browser can parse (no Node types inside).
          const reparsed = deserializeTwoLayerPmoe(JSON.parse(await readFile(path, 'utf8')));
          assert.deepEqual(Array.from(reparsed.experts.dataSync()), Array.from(model.experts.dataSync()));
          tf.dispose([patches]);
          for (const m of [model, loaded.model, reparsed]) m.dispose();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('refuses a file that is not a pmoe model, naming what is wrong', async () => {
    await initEngine('cpu');
    const model = trainedLooking({ patchCount: 4, patchDim: 3, experts: 2, neuronsPerExpert: 2, patchesPerExpert: 2 }, 'bad');
    const good = serializeTwoLayerModel(model) as PmoeModelFile;
    model.dispose();
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"format":', /not valid JSON/],
      ['another format', JSON.stringify({ ...good, format: 'layers-model' }), /format: must be 'pmoe-two-layer'/],
      ['a newer version', JSON.stringify({ ...good, version: 3 }), /version: must be 2, or 1/],
      ['a bad config', JSON.stringify({ ...good, config: { ...good.config, patchesPerExpert: 9 } }), /config\.patchesPerExpert/],
      [
        'a shape that does not fit the config',
        JSON.stringify({ ...good, weights: { ...good.weights, routers: { ...good.weights.routers, shape: [2, 3] } } }),
        /weights\.routers has shape \[2, 3\] but the config asks for \[3, 2\]/,
      ],
      [
        'truncated weights',
        JSON.stringify({ ...good, weights: { ...good.weights, experts: { ...good.weights.experts, base64: good.weights.experts.base64.slice(0, 32) } } }),
        /weights\.experts: 6 values for shape \[2, 3, 2\] \(12\)/,
      ],
    ];
    const withWeights = (name: 'routers' | 'experts' | 'output', base64: string) =>
      JSON.stringify({ ...good, weights: { ...good.weights, [name]: { ...good.weights[name], base64 } } });
    const poisoned = (name: 'routers' | 'experts' | 'output', at: number, value: number) => {
      const values = base64ToFloat32(good.weights[name].base64);
      values[at] = value;
      return withWeights(name, float32ToBase64(values));
    };
    // Caught by the validation alone, before any model is built or page written.
    const validationCases: [string, string, RegExp][] = [
      [
        'base64 with a character outside the alphabet',
        withWeights('routers', `${good.weights.routers.base64.slice(0, 4)}*${good.weights.routers.base64.slice(5)}`),
        /m\.json: weights\.routers: base64 is not valid base64/,
      ],
      ['base64 cut mid-group (no padding)', withWeights('experts', good.weights.experts.base64.slice(0, -3)), /weights\.experts: base64 is not valid base64/],
      ['base64 with spaces', withWeights('output', ` ${good.weights.output.base64}`), /weights\.output: base64 is not valid base64/],
      [
        'truncated weights (whole groups)',
        withWeights('experts', good.weights.experts.base64.slice(0, 32)),
        /m\.json: weights\.experts: 6 values for shape \[2, 3, 2\] \(12\): truncated/,
      ],
      ['a NaN weight', poisoned('routers', 3, Number.NaN), /weights\.routers: value 3 is NaN; a model's weights must be finite/],
      ['an infinite weight', poisoned('experts', 11, Number.NEGATIVE_INFINITY), /weights\.experts: value 11 is -Infinity/],
      ['an infinite output weight', poisoned('output', 0, Number.POSITIVE_INFINITY), /weights\.output: value 0 is Infinity/],
    ];
    for (const [what, text, message] of [...cases, ...validationCases]) {
      assert.throws(
        () => deserializeTwoLayerPmoe(parsePmoeModelFile(text, 'm.json')),
        (error: Error) => error instanceof PmoeModelFileError && message.test(error.message),
        what,
      );
    }
    for (const [what, text, message] of validationCases) {
      assert.throws(
        () => parsePmoeModelFile(text, 'm.json'),
        (error: Error) => error instanceof PmoeModelFileError && message.test(error.message),
        what,
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-model-file-'));
    try {
      await assert.rejects(loadTwoLayerModel(join(dir, 'absent')), /model .*absent does not exist/);
      await writeFile(join(dir, 'x.json'), '[]');
      await assert.rejects(loadTwoLayerModel(join(dir, 'x.json')), /x\.json is not a pmoe model/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('a cnn file is validated as strictly, and refused where routing is needed', async () => {
    await initEngine('cpu');
    const model = new TwoLayerCnn({ patchCount: 4, patchDim: 3, neurons: 2, classes: 3 });
    const good = serializeTwoLayerModel(model);
    assert.equal(good.model, 'cnn');
    if (good.model !== 'cnn') return;
    const back = deserializeTwoLayerModel(JSON.parse(JSON.stringify(good)));
    assert.ok(back instanceof TwoLayerCnn);
    back.dispose();
    const values = base64ToFloat32(good.weights.hidden.base64);
    values[5] = Number.NaN;
    const cases: [string, unknown, RegExp][] = [
      ['no model field in a version 2 file', { ...good, model: undefined }, /model: missing \('pmoe' or 'cnn'\)/],
      ['an unknown model', { ...good, model: 'rnn' }, /model: must be 'pmoe' or 'cnn'/],
      ['a cnn in a version 1 file', { ...good, version: 1 }, /version 1 files hold a pMoE only/],
      ['pMoE weights in a cnn file', { ...good, model: 'pmoe' }, /has an invalid config|weights/],
      [
        'a pMoE weight name',
        { ...good, weights: { ...good.weights, routers: good.weights.hidden } },
        /is not a pmoe model \(model: 'cnn'\): weights: .*routers/,
      ],
      ['a bad config', { ...good, config: { ...good.config, neurons: 0 } }, /config\.neurons/],
      [
        'a shape that does not fit the config',
        { ...good, weights: { ...good.weights, hidden: { ...good.weights.hidden, shape: [2, 3] } } },
        /weights\.hidden has shape \[2, 3\] but the config asks for \[3, 2\]/,
      ],
      [
        'truncated weights',
        { ...good, weights: { ...good.weights, hidden: { ...good.weights.hidden, base64: good.weights.hidden.base64.slice(0, 16) } } },
        /weights\.hidden: 3 values for shape \[3, 2\] \(6\)/,
      ],
      [
        'a NaN weight',
        { ...good, weights: { ...good.weights, hidden: { ...good.weights.hidden, base64: float32ToBase64(values) } } },
        /weights\.hidden: value 5 is NaN/,
      ],
    ];
    for (const [what, value, message] of cases) {
      assert.throws(
        () => deserializeTwoLayerModel(parseTwoLayerModelFile(JSON.stringify(value), 'c.json')),
        (error: Error) => error instanceof PmoeModelFileError && message.test(error.message),
        what,
      );
    }
    const routingOnly = /c\.json holds a two-layer cnn, which has no routing; a pMoE is needed here/;
    assert.throws(() => parsePmoeModelFile(JSON.stringify(good), 'c.json'), routingOnly);
    assert.throws(() => deserializeTwoLayerPmoe(good, 'c.json'), routingOnly);
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-model-file-'));
    try {
      const path = await saveTwoLayerModel(model, dir);
      await assert.rejects(readPmoeModelFile(dir), (error: Error) => error.message.startsWith(`${path} holds a two-layer cnn`));
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a version 1 file (a pMoE, no model field) still loads, with the same outputs', async () => {
    await initEngine('cpu');
    const model = trainedLooking({ patchCount: 5, patchDim: 4, experts: 2, neuronsPerExpert: 3, patchesPerExpert: 2, gate: 'hard' }, 'version-1');
    const { model: kind, ...rest } = serializeTwoLayerModel(model);
    assert.equal(kind, 'pmoe');
    const old = deserializeTwoLayerModel(JSON.parse(JSON.stringify({ ...rest, version: 1 })));
    assert.ok(old instanceof TwoLayerPmoe);
    const patches = tf.tensor3d(Float32Array.from(gaussian(freshRng('version-1-patches'), 3 * 5 * 4)), [3, 5, 4]);
    assert.deepEqual(await outputsOf(old, patches), await outputsOf(model, patches));
    // The page's own model was saved as version 1.
    const page = await loadTwoLayerModel(fileURLToPath(new URL('../../../web/data/pmoe-model.json', import.meta.url)));
    assert.equal(page.file.version, 1);
    assert.equal(page.file.model, 'pmoe');
    assert.ok(page.model instanceof TwoLayerPmoe);
    for (const m of [model, old, page.model]) m.dispose();
    patches.dispose();
  });
});
