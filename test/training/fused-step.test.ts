import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PatchDataset } from '../../src/data/dataset.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import type { Rng } from '../../src/util/random.js';
import { TwoLayerCnn } from '../../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { GATE_MODES, POOLINGS } from '../../src/routing/gate.js';
import { patchScores, route } from '../../src/routing/route.js';
import { evaluate } from '../../src/training/evaluate.js';
import type { FusedTrainer } from '../../src/training/fused.js';
import { SPARSE_BELOW } from '../../src/training/fused.js';
import { FusedCnn } from '../../src/training/fused-cnn.js';
import { FusedPmoe } from '../../src/training/fused-pmoe.js';
import { FusedSoftPmoe } from '../../src/training/fused-soft-moe.js';
import type { RouterSetting } from '../../src/routing/registry.js';
import { classificationLoss } from '../../src/training/loss.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/** float32 sums taken in another order agree to about this (relative error). */
const TOLERANCE = 1e-5;

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const error = relativeError(actual, expected);
  assert.ok(error <= TOLERANCE, `${what}: relative error ${error}`);
}

/** Shapes that exercise the kernels' padding: d, m/k and k not multiples of 4. */
const N = 7;
const D = 9;

/** A random set; `zeros` of its values exactly 0 (0.7 makes it sparse, the MNIST case). */
function randomSet(rng: Rng, count: number, classes: number, zeros: number): PatchDataset {
  return {
    patches: Float32Array.from({ length: count * N * D }, () => (rng.next() < zeros ? 0 : rng.normal())),
    labels: Int32Array.from({ length: count }, () => rng.int(classes)),
    discriminativePatch: new Int32Array(count).fill(-1),
    count,
    patchCount: N,
    patchDim: D,
    classes,
  };
}

/** The reference: the model's tf forward pass, classificationLoss (plus the router's auxiliary losses: `training`) and tf.variableGrads. */
function autodiff(model: TwoLayerCnn | TwoLayerPmoe, data: PatchDataset, samples: number[], names: Map<tf.Variable, string>, training = false) {
  const x = tf.tensor3d(Float32Array.from(samples.flatMap((i) => Array.from(data.patches.subarray(i * N * D, (i + 1) * N * D)))), [samples.length, N, D]);
  const labels = tf.tensor1d(
    Int32Array.from(samples, (i) => data.labels[i]),
    'int32',
  );
  const logits = tf.tidy(() => model.forward(x));
  const variables = model.trainableVariables();
  const loss = () => {
    if (!training || !(model instanceof TwoLayerPmoe)) return classificationLoss(model.forward(x), labels);
    const { logits, auxiliaryLoss } = model.trainingForward(x);
    return auxiliaryLoss ? tf.add(classificationLoss(logits, labels), auxiliaryLoss) : classificationLoss(logits, labels);
  };
  const { value, grads } = tf.variableGrads(loss as () => tf.Scalar, variables);
  const named: Record<string, Float32Array> = {};
  // A variable off the loss's path (routers behind hard gates) gets no gradient; SGD leaves it alone.
  for (const variable of variables) if (grads[variable.name]) named[names.get(variable)!] = grads[variable.name].dataSync() as Float32Array;
  const result = { logits: logits.dataSync() as Float32Array, loss: value.dataSync()[0], grads: named };
  tf.dispose([x, labels, logits, value, ...Object.values(grads)]);
  return result;
}

function compare(trainer: FusedTrainer, model: TwoLayerCnn | TwoLayerPmoe, data: PatchDataset, samples: number[], names: Map<tf.Variable, string>): void {
  const reference = autodiff(model, data, samples, names);
  assertClose(trainer.logits(samples), reference.logits, 'logits');
  const { loss, grads } = trainer.gradients(samples);
  assertClose([loss], [reference.loss], 'loss');
  assert.deepEqual(Object.keys(grads).sort(), Object.keys(reference.grads).sort(), 'the same variables get gradients');
  for (const [name, values] of Object.entries(reference.grads)) {
    assertClose(grads[name], values, `gradient of ${name}`);
    if (name !== 'routers' || (model instanceof TwoLayerPmoe && model.config.gate !== 'hard')) {
      assert.ok(
        values.some((v) => v !== 0),
        `${name}: a test whose gradient is all zero proves nothing`,
      );
    }
  }
  // The per-set evaluation agrees with the tf one.
  const fused = trainer.evaluate('test');
  const tfEvaluation = evaluate(model, data);
  assertClose([fused.loss], [tfEvaluation.loss], 'evaluation loss');
  assert.equal(fused.accuracy, tfEvaluation.accuracy, 'evaluation accuracy');
}

const settings = { learningRate: 0.2, batchSize: 6 };

describe('fused training steps match the autodiff formulation on fresh random inputs', async () => {
  await initEngine('wasm');

  for (const classes of [2, 3]) {
    for (const zeros of [0, 0.7]) {
      it(`CNN, ${classes} classes, ${zeros < SPARSE_BELOW ? 'dense' : 'sparse'} patches: logits, loss, gradient and evaluation`, () => {
        const rng = freshRng(`fused cnn ${classes} ${zeros}`);
        const data = randomSet(rng, 10, classes, zeros);
        const model = new TwoLayerCnn({ patchCount: N, patchDim: D, neurons: 5, classes, seed: rng.int(1000) });
        const trainer = new FusedCnn(model, data, data, settings);
        compare(trainer, model, data, rng.shuffle([...Array(10).keys()]).slice(0, 6), new Map<tf.Variable, string>([[model.hidden, 'hidden']]));
        model.dispose();
      });
    }
  }

  for (const gate of GATE_MODES) {
    for (const pooling of POOLINGS) {
      for (const [classes, zeros, frozen] of [
        [2, 0, false],
        [3, 0.7, false],
        [2, 0.7, true],
        [3, 0, true],
      ] as const) {
        const label = `pMoE gate ${gate}, pooling ${pooling}, ${classes} classes, ${zeros < SPARSE_BELOW ? 'dense' : 'sparse'}, routers ${frozen ? 'frozen' : 'trained'}`;
        it(`${label}: logits, loss, gradients and evaluation`, () => {
          const rng = freshRng(`fused ${label}`);
          const data = randomSet(rng, 10, classes, zeros);
          const model = new TwoLayerPmoe({
            patchCount: N,
            patchDim: D,
            experts: 3,
            neuronsPerExpert: 3,
            patchesPerExpert: 3,
            gate,
            pooling,
            classes,
            routerInitStd: 0.5,
            seed: rng.int(1000),
          });
          model.routersFrozen = frozen;
          const trainer = new FusedPmoe(model, data, data, settings);
          compare(
            trainer,
            model,
            data,
            rng.shuffle([...Array(10).keys()]).slice(0, 6),
            new Map<tf.Variable, string>([
              [model.routers, 'routers'],
              [model.experts, 'experts'],
            ]),
          );
          model.dispose();
        });
      }
    }
  }

  // Each router but the paper's (above): noise, capacity, priority, groups, auxiliary losses, Soft MoE's dense dispatch.
  const ROUTED: { label: string; router: RouterSetting }[] = [
    {
      label: 'token choice K = 2, noise, importance, load and z-loss',
      router: { name: 'token-choice', topK: 2, capacityFactor: 1, zLoss: 0.01, importanceLoss: 0.1, loadLoss: 0.1 },
    },
    {
      label: 'token choice, batch priority over groups of 3, drops',
      router: { name: 'token-choice', capacityFactor: 0.7, batchPriority: true, groupSize: 3, noiseStd: 0 },
    },
    {
      label: 'expert choice over groups of 4 images, noise',
      router: { name: 'batch-expert-choice', capacityFactor: 1.5, groupSize: 4, noiseStd: 1, importanceLoss: 0.1 },
    },
    { label: 'Soft MoE', router: 'soft-moe' },
  ];
  for (const { label, router } of ROUTED) {
    for (const [classes, zeros] of [
      [2, 0],
      [3, 0.7],
    ] as const) {
      it(`router ${label}, ${classes} classes, ${zeros < SPARSE_BELOW ? 'dense' : 'sparse'}: logits, loss with the auxiliary losses, gradients and evaluation`, () => {
        const rng = freshRng(`fused router ${label} ${classes}`);
        const data = randomSet(rng, 10, classes, zeros);
        const options = {
          patchCount: N,
          patchDim: D,
          experts: 3,
          neuronsPerExpert: 3,
          patchesPerExpert: 3,
          classes,
          router,
          routerInitStd: 0.5,
          seed: rng.int(1000),
        };
        // Two equal models, so each draws the same training noise: one for the fused step, one for autodiff.
        const [fusedModel, model] = [new TwoLayerPmoe(options), new TwoLayerPmoe(options)];
        if (model.router.soft) {
          // A scale away from 1, so its gradient is not a special case.
          for (const m of [fusedModel, model]) m.routerWeights.scale.assign(tf.scalar(1.7));
        }
        const trainer = model.router.soft ? new FusedSoftPmoe(fusedModel, data, data, settings) : new FusedPmoe(fusedModel, data, data, settings);
        const samples = rng.shuffle([...Array(10).keys()]).slice(0, 6);
        const names = new Map<tf.Variable, string>([
          [model.routers, 'routers'],
          [model.experts, 'experts'],
          ...Object.entries(model.routerWeights).map(([name, v]) => [v, `router/${name}`] as [tf.Variable, string]),
        ]);
        const reference = autodiff(model, data, samples, names, true);
        assertClose(trainer.logits(samples), reference.logits, 'logits');
        const { loss, grads } = trainer.gradients(samples);
        assertClose([loss], [reference.loss], 'loss');
        assert.deepEqual(Object.keys(grads).sort(), Object.keys(reference.grads).sort(), 'the same variables get gradients');
        for (const [name, values] of Object.entries(reference.grads)) {
          assertClose(grads[name], values, `gradient of ${name}`);
          assert.ok(
            values.some((v) => v !== 0),
            `${name}: a test whose gradient is all zero proves nothing`,
          );
        }
        const fused = trainer.evaluate('test');
        const tfEvaluation = evaluate(model, data);
        assertClose([fused.loss], [tfEvaluation.loss], 'evaluation loss');
        assert.equal(fused.accuracy, tfEvaluation.accuracy, 'evaluation accuracy');
        fusedModel.dispose();
        model.dispose();
      });
    }
  }

  it('top-l ties go to the lower patch index, as tf.topk: identical patches within an image', () => {
    const rng = freshRng('fused ties');
    const data = randomSet(rng, 4, 2, 0);
    const size = N * D;
    // Sample 0: every patch the same (all scores tie). Sample 1: patches 2k and 2k+1 equal.
    for (let j = 1; j < N; j++) data.patches.copyWithin(j * D, 0, D);
    for (let j = 1; j < N; j += 2) data.patches.copyWithin(size + j * D, size + (j - 1) * D, size + j * D);
    for (const gate of GATE_MODES) {
      const model = new TwoLayerPmoe({
        patchCount: N,
        patchDim: D,
        experts: 3,
        neuronsPerExpert: 3,
        patchesPerExpert: 4,
        gate,
        routerInitStd: 0.5,
        seed: rng.int(1000),
      });
      const trainer = new FusedPmoe(model, data, data, settings);
      const samples = [0, 1, 2, 3];
      const fused = trainer.routing(samples);
      const x = tf.tensor3d(data.patches, [4, N, D]);
      const reference = route(patchScores(x, model.routers), 4, gate);
      // The reference's [batch, k, l] in the experts' buffers: place b l + t of expert s holds row b n + index.
      const [indices, gates] = [reference.indices.dataSync(), reference.gates.dataSync()];
      const rows = fused.rows.map((_, i) => {
        const [s, b, t] = [Math.floor(i / fused.places), Math.floor((i % fused.places) / 4), i % 4];
        return b * N + indices[(b * 3 + s) * 4 + t];
      });
      const expectedGates = Array.from(fused.gates, (_, i) => gates[(Math.floor((i % fused.places) / 4) * 3 + Math.floor(i / fused.places)) * 4 + (i % 4)]);
      assert.deepEqual(Array.from(fused.rows), Array.from(rows), `${gate}: same patches chosen`);
      assert.deepEqual(Array.from(fused.rows.subarray(0, 4)), [0, 1, 2, 3], 'all tied: the first l');
      assertClose(fused.gates, expectedGates, `${gate}: gates`);
      compare(
        trainer,
        model,
        data,
        samples,
        new Map<tf.Variable, string>([
          [model.routers, 'routers'],
          [model.experts, 'experts'],
        ]),
      );
      tf.dispose([x, reference.indices, reference.gates]);
      model.dispose();
    }
  });
});
