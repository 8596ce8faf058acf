import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import {
  base64ToFloat32,
  deserializeTwoLayerPmoe,
  float32ToBase64,
  parsePmoeModelFile,
  PmoeModelFileError,
  serializeTwoLayerPmoe,
} from '../../src/models/pmoe-model-file.js';
import { loadTwoLayerPmoe, saveTwoLayerPmoe } from '../../src/models/pmoe-model-io.js';
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
          const path = await saveTwoLayerPmoe(model, join(dir, `model-${classes}`), extras);
          assert.deepEqual(await readdir(join(dir, `model-${classes}`)), ['pmoe-model.json'], 'one file, no temporary left behind');
          const loaded = await loadTwoLayerPmoe(join(dir, `model-${classes}`));
          assert.equal(loaded.path, path);
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
    const good = serializeTwoLayerPmoe(model);
    model.dispose();
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"format":', /not valid JSON/],
      ['another format', JSON.stringify({ ...good, format: 'layers-model' }), /format: must be 'pmoe-two-layer'/],
      ['a newer version', JSON.stringify({ ...good, version: 2 }), /version: must be 1/],
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
      await assert.rejects(loadTwoLayerPmoe(join(dir, 'absent')), /model .*absent does not exist/);
      await writeFile(join(dir, 'x.json'), '[]');
      await assert.rejects(loadTwoLayerPmoe(join(dir, 'x.json')), /x\.json is not a pmoe model/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
