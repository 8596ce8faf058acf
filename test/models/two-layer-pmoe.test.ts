import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { GATE_MODES, type GateMode, type Pooling } from '../../src/routing/gate.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { referenceForward, type ReferenceShape, type ReferenceWeights } from '../support/reference-pmoe.js';
import { freshRng, gaussian } from '../support/random.js';

const BACKENDS = ['cpu', 'wasm'] as const;

function makeCase(gate: GateMode, pooling: Pooling, classes: number, label: string) {
  const rng = freshRng(label);
  const shape: ReferenceShape = { batch: 4, n: 7, d: 5, k: 3, neuronsPerExpert: 4, l: 3, logits: classes === 2 ? 1 : classes, gate, pooling };
  const model = new TwoLayerPmoe({
    patchCount: shape.n,
    patchDim: shape.d,
    experts: shape.k,
    neuronsPerExpert: shape.neuronsPerExpert,
    patchesPerExpert: shape.l,
    gate,
    pooling,
    classes,
    seed: rng.int(1000),
  });
  const weights: ReferenceWeights = {
    routers: gaussian(rng, shape.d * shape.k),
    experts: Array.from({ length: shape.k }, () => gaussian(rng, shape.d * shape.neuronsPerExpert)),
    output: Float64Array.from(model.output.dataSync()),
  };
  model.routers.assign(tf.tensor2d(Float32Array.from(weights.routers), [shape.d, shape.k]));
  model.experts.assign(tf.tensor3d(Float32Array.from(weights.experts.flatMap((e) => Array.from(e))), [shape.k, shape.d, shape.neuronsPerExpert]));
  // Round the reference to what float32 holds, so both see the same numbers.
  weights.routers = Float64Array.from(Float32Array.from(weights.routers));
  weights.experts = weights.experts.map((e) => Float64Array.from(Float32Array.from(e)));
  const patches = Float64Array.from(Float32Array.from(gaussian(rng, shape.batch * shape.n * shape.d)));
  const probe = gaussian(rng, shape.batch * shape.logits);
  return { model, shape, weights, patches, probe };
}

function probed(logits: Float64Array, probe: Float64Array): number {
  return logits.reduce((sum, v, i) => sum + v * probe[i], 0);
}

/** Central differences of sum(logits * probe) in float64; entries whose ±eps changes the routing are skipped. */
function finiteDifferences(
  patches: Float64Array,
  weights: ReferenceWeights,
  shape: ReferenceShape,
  probe: Float64Array,
  pick: (w: ReferenceWeights) => Float64Array,
): { gradient: Float64Array; skipped: number } {
  const eps = 1e-6;
  const target = pick(weights);
  const gradient = new Float64Array(target.length);
  const base = JSON.stringify(referenceForward(patches, weights, shape).selections);
  let skipped = 0;
  for (let i = 0; i < target.length; i++) {
    const original = target[i];
    target[i] = original + eps;
    const up = referenceForward(patches, weights, shape);
    target[i] = original - eps;
    const down = referenceForward(patches, weights, shape);
    target[i] = original;
    if (JSON.stringify(up.selections) !== base || JSON.stringify(down.selections) !== base) {
      gradient[i] = NaN;
      skipped++;
      continue;
    }
    gradient[i] = (probed(up.logits, probe) - probed(down.logits, probe)) / (2 * eps);
  }
  return { gradient, skipped };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 2e-4, rtol = 2e-3) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(expected[i])) continue;
    const tolerance = atol + rtol * Math.abs(expected[i]);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

for (const backend of BACKENDS) {
  describe(`two-layer pMoE on ${backend}`, () => {
    for (const gate of GATE_MODES) {
      for (const [pooling, classes] of [
        ['selected', 2],
        ['all', 3],
      ] as const) {
        it(`forward and gradients match float64 finite differences (gate ${gate}, pooling ${pooling}, ${classes} classes)`, async () => {
          await initEngine(backend);
          const { model, shape, weights, patches, probe } = makeCase(gate, pooling, classes, `${backend}-${gate}-${pooling}`);
          const input = tf.tensor3d(Float32Array.from(patches), [shape.batch, shape.n, shape.d]);
          const reference = referenceForward(patches, weights, shape);
          const logits = model.forward(input);
          assertClose(logits.dataSync(), reference.logits, 'logits', 1e-5, 1e-4);

          const probeTensor = tf.tensor2d(Float32Array.from(probe), [shape.batch, shape.logits]);
          const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(input), probeTensor)), [model.routers, model.experts]);
          const routerFd = finiteDifferences(patches, weights, shape, probe, (w) => w.routers);
          const routerGrad = grads[model.routers.name]?.dataSync() ?? new Float32Array(shape.d * shape.k);
          if (gate === 'hard') {
            assert.ok(
              routerGrad.every((v) => v === 0),
              'hard gates give the router no gradient',
            );
            assert.ok(
              routerFd.gradient.every((v) => Number.isNaN(v) || Math.abs(v) < 1e-9),
              'reference agrees: hard gates do not depend on the router',
            );
          } else {
            assertClose(routerGrad, routerFd.gradient, 'router gradient');
            assert.ok(
              routerGrad.some((v) => v !== 0),
              'soft gates pass a gradient to the router',
            );
          }
          const expertGrad = grads[model.experts.name].dataSync();
          const perExpert = shape.d * shape.neuronsPerExpert;
          for (let s = 0; s < shape.k; s++) {
            const fd = finiteDifferences(patches, weights, shape, probe, (w) => w.experts[s]);
            assertClose(expertGrad.subarray(s * perExpert, (s + 1) * perExpert), fd.gradient, `expert ${s} gradient`);
            assert.ok(fd.skipped === 0, 'expert weights do not move the routing');
          }
          assert.ok(routerFd.skipped <= routerFd.gradient.length / 4, `too many router entries skipped: ${routerFd.skipped}`);
          tf.dispose([input, logits, probeTensor, ...Object.values(grads)]);
          model.dispose();
        });
      }
    }
  });
}
