import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initEngine, tf } from '../../src/engine/backend.js';
import { HostAuxiliaryLosses, auxiliaryLossesTf } from '../../src/routing/auxiliary-losses.js';
import { createRouter, ROUTER_NAMES, routerSettingSchema, type RouterSetting } from '../../src/routing/registry.js';
import type { HostDispatch, HostScores, Router, RouterShape, SparseDispatch } from '../../src/routing/router.js';
import { routingView } from '../../src/routing/dispatch.js';
import { routingUtilisation } from '../../src/analysis/utilisation.js';
import { parseOptions } from '../../src/util/options.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

function routerOf(setting: RouterSetting, shape: RouterShape, gate: 'softmax-selected' | 'softmax-all' | 'hard' = 'softmax-selected'): Router {
  return createRouter(parseOptions(routerSettingSchema, setting, 'router'), shape, gate);
}

/** Scores [rows, k] as the host reads them (float64, so finite differences are exact enough). */
function table(values: number[][]): HostScores {
  return { values: Float64Array.from(values.flat()), rows: values.length, stride: values[0].length };
}

function hostRoute(router: Router, scores: HostScores, batch: number, mode: 'train' | 'eval' = 'eval', noise?: Float32Array): HostDispatch {
  const host = router.host!;
  const places = host.places(batch, mode);
  const out: HostDispatch = {
    places,
    rows: new Int32Array(router.shape.experts * places),
    gates: new Float64Array(router.shape.experts * places),
    dropped: 0,
    auxiliary: new Float64Array(3),
  };
  host.forward(scores, batch, mode, out, noise);
  return out;
}

/** Expert s's buffer: [row, gate] per place. */
function buffer(out: HostDispatch, s: number): [number, number][] {
  return Array.from({ length: out.places }, (_, i) => [out.rows[s * out.places + i], Number(out.gates[s * out.places + i].toFixed(4))]);
}

const softmax = (row: number[]) => {
  const e = row.map(Math.exp);
  const sum = e.reduce((a, b) => a + b);
  return e.map((v) => Number((v / sum).toFixed(4)));
};

describe('routers on hand-worked cases (plain loops as the reference)', () => {
  // One image of 4 patches, 2 experts. Patches 0-2 prefer expert 0; patch 3 prefers expert 1.
  const scores = [
    [2, 0],
    [1, 0],
    [3, 0],
    [0, 1],
  ];
  const p = scores.map(softmax);
  const shape = { patches: 4, experts: 2, patchesPerExpert: 2 };
  const quiet = { noiseStd: 0, importanceLoss: 0, loadLoss: 0 };

  it('token choice, K = 1, capacity 2: first come first served; the third patch for expert 0 is dropped and expert 1 has an empty place', () => {
    const out = hostRoute(routerOf({ name: 'token-choice', capacityFactor: 1, ...quiet }, shape), table(scores), 1);
    assert.equal(out.places, 2, 'C = ceil(K T factor / k) = ceil(1 * 4 * 1 / 2)');
    assert.deepEqual(buffer(out, 0), [
      [0, p[0][0]],
      [1, p[1][0]],
    ]);
    assert.deepEqual(buffer(out, 1), [
      [3, p[3][1]],
      [-1, 0],
    ]);
    assert.equal(out.dropped, 1);
  });

  it('token choice with batch priority: patches by their largest probability; equal priorities keep their order', () => {
    const out = hostRoute(routerOf({ name: 'token-choice', capacityFactor: 1, batchPriority: true, ...quiet }, shape), table(scores), 1);
    // Priorities: patch 2 (0.9526) > patch 0 (0.8808) > patches 1 and 3 (0.7311 each: 1 goes first).
    assert.deepEqual(buffer(out, 0), [
      [2, p[2][0]],
      [0, p[0][0]],
    ]);
    assert.deepEqual(buffer(out, 1), [
      [3, p[3][1]],
      [-1, 0],
    ]);
    assert.equal(out.dropped, 1, 'patch 1 finds expert 0 full');
  });

  it('token choice, K = 2: every first choice before any second one, no drop at capacity 4', () => {
    const out = hostRoute(routerOf({ name: 'token-choice', topK: 2, capacityFactor: 1, ...quiet }, shape), table(scores), 1);
    assert.equal(out.places, 4);
    assert.deepEqual(
      buffer(out, 0).map(([row]) => row),
      [0, 1, 2, 3],
    );
    assert.deepEqual(
      buffer(out, 1).map(([row]) => row),
      [3, 0, 1, 2],
    );
    assert.equal(out.dropped, 0);
  });

  it('token choice: an expert no patch picks stays empty (idle in the utilisation)', async () => {
    await initEngine('cpu');
    const all = [
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
    ];
    const router = routerOf({ name: 'token-choice', capacityFactor: 2, ...quiet }, shape);
    const out = hostRoute(router, table(all), 1);
    assert.deepEqual(
      buffer(out, 1).map(([row]) => row),
      [-1, -1, -1, -1],
    );
    const [patches, kernel] = [tf.eye(4) as tf.Tensor2D, tf.tensor2d(all)];
    const dispatch = router.route({ patches, kernel, batch: 1, mode: 'eval' }) as SparseDispatch;
    const view = routingView(dispatch, 1, 4);
    const utilisation = routingUtilisation(
      {
        batch: 1,
        experts: 2,
        patchesPerExpert: view.indices.shape[2],
        indices: view.indices.dataSync() as Int32Array,
        gates: view.gates.dataSync() as Float32Array,
      },
      4,
    );
    assert.deepEqual(utilisation, { patchesPerExpert: [4, 0], untakenPatches: 0, emptyPairs: 0.5, idleExperts: 1 });
    tf.dispose([patches, kernel, dispatch.rows, dispatch.gates, dispatch.metrics, view.indices, view.gates]);
  });

  it('expert choice over a group: each expert takes the group top C, whichever image they are in; ties to the earlier patch', () => {
    // Two images of 2 patches (rows 0-1, 2-3); expert 0 likes rows 2 and 3 best, expert 1's scores tie.
    const group = [
      [0, 0],
      [1, 1],
      [3, 3],
      [2, 2],
    ];
    const router = routerOf({ name: 'batch-expert-choice', capacityFactor: 1, groupSize: 2 }, { patches: 2, experts: 2, patchesPerExpert: 1 });
    const out = hostRoute(router, table(group), 2);
    assert.equal(out.places, 2, 'C = ceil(T factor / k) = ceil(4 * 1 / 2)');
    // Every probability is 1/2: all tie, so both experts take rows 0 and 1, both in image 0.
    assert.deepEqual(buffer(out, 0), [
      [0, 0.5],
      [1, 0.5],
    ]);
    assert.deepEqual(buffer(out, 1), [
      [0, 0.5],
      [1, 0.5],
    ]);
    const skewed = hostRoute(router, table(scores), 2);
    // Expert 0 by P[., 0] = 0.88, 0.73, 0.95, 0.27: rows 2 and 0; expert 1 by P[., 1]: rows 3 and 1.
    assert.deepEqual(
      buffer(skewed, 0).map(([row]) => row),
      [2, 0],
    );
    assert.deepEqual(
      buffer(skewed, 1).map(([row]) => row),
      [3, 1],
    );
  });

  it("the paper's expert choice: the l best patches of each image per expert, ties to the lower index, softmax over the selected", () => {
    const router = routerOf('expert-choice', { patches: 3, experts: 1, patchesPerExpert: 2 });
    const out = hostRoute(router, table([[1], [3], [3], [5], [4], [0]]), 2);
    assert.deepEqual(buffer(out, 0), [
      [1, 0.5],
      [2, 0.5],
      [3, softmax([5, 4])[0]],
      [4, softmax([5, 4])[1]],
    ]);
  });

  it('auxiliary losses against hand-computed values', async () => {
    await initEngine('cpu');
    const two = table([
      [0, 0],
      [Math.log(3), 0],
    ]);
    const settings = { weights: { importance: 1, load: 1, zLoss: 1 }, topK: 1, noiseScale: 1 };
    const out = new Float64Array(3);
    new HostAuxiliaryLosses(settings, 2).forward(two, 'train', out, new Float32Array(4));
    // P = [[0.5, 0.5], [0.75, 0.25]]: importance I = [1.25, 0.75], CV^2 = 0.0625.
    // Load (zero noise, sigma 1): p = [[0.5, 0.5], [0.5, 1 - Phi(ln 3)]], means [0.5, 0.31798], CV^2 = 0.0495140.
    // z-loss: mean of (ln 2)^2 and (ln 4)^2 = 1.2011325.
    assert.ok(Math.abs(out[0] - 0.0625) < 1e-9, `importance ${out[0]}`);
    assert.ok(Math.abs(out[1] - 0.04951396917) < 1e-6, `load ${out[1]}`);
    assert.ok(Math.abs(out[2] - 1.2011325348) < 1e-9, `z-loss ${out[2]}`);
    const tfValues = tf.tidy(() => auxiliaryLossesTf(tf.tensor2d([0, 0, Math.log(3), 0], [2, 2]), settings, 'train', tf.zeros([2, 2])).dataSync());
    assert.ok(relativeError(tfValues, out) < 1e-5, `tf formulation ${Array.from(tfValues)}`);
    // Evaluation draws no noise: no load loss.
    new HostAuxiliaryLosses(settings, 2).forward(two, 'eval', out);
    assert.equal(out[1], 0);
  });
});

/** Random sparse-router settings, each router at least once, with noise and auxiliary losses where it has them. */
const SPARSE_CASES: { label: string; setting: RouterSetting; noisy: boolean }[] = [
  { label: 'expert choice, softmax over the selected, auxiliary losses', setting: { name: 'expert-choice', importanceLoss: 0.3, zLoss: 0.2 }, noisy: false },
  {
    label: 'token choice K = 2, noise, importance, load and z-loss',
    setting: { name: 'token-choice', topK: 2, capacityFactor: 1, zLoss: 0.1, importanceLoss: 0.5, loadLoss: 0.5 },
    noisy: true,
  },
  {
    label: 'token choice with batch priority over groups of 2',
    setting: { name: 'token-choice', topK: 1, capacityFactor: 1.3, batchPriority: true, groupSize: 2, noiseStd: 0 },
    noisy: false,
  },
  {
    label: 'expert choice over groups of 3 images, noise',
    setting: { name: 'batch-expert-choice', capacityFactor: 1.5, groupSize: 3, noiseStd: 1, importanceLoss: 0.2 },
    noisy: true,
  },
];

const SHAPE = { patches: 5, experts: 3, patchesPerExpert: 2 };
const BATCH = 4;

function randomScores(rng: Rng, rows: number, k: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: k }, () => 2 * rng.normal()));
}

describe('sparse routers: the hand-derived gradient against finite differences (float64)', () => {
  for (const { label, setting, noisy } of SPARSE_CASES) {
    it(label, () => {
      const rng = freshRng(`finite differences ${label}`);
      const router = routerOf(setting, SHAPE);
      const rows = BATCH * SHAPE.patches;
      const scores = table(randomScores(rng, rows, SHAPE.experts));
      const noise = noisy ? Float32Array.from({ length: rows * SHAPE.experts }, () => rng.normal()) : undefined;
      const out = hostRoute(router, scores, BATCH, 'train', noise);
      // L = sum_i c_i G_i + sum_a w_a aux_a, with random c and the router's weights w.
      const coefficients = Float64Array.from(out.gates, () => rng.normal());
      const { importance, load, zLoss } = router.auxiliaryWeights;
      const weights = [importance, load, zLoss];
      const lossAt = (values: Float64Array) => {
        const moved = hostRoute(router, { ...scores, values }, BATCH, 'train', noise);
        assert.deepEqual(Array.from(moved.rows), Array.from(out.rows), 'the step keeps the selection (a tie within the step would break the check)');
        let loss = 0;
        for (let i = 0; i < moved.gates.length; i++) loss += coefficients[i] * moved.gates[i];
        return loss + weights.reduce((sum, w, i) => sum + w * moved.auxiliary[i], 0);
      };
      const analytic = new Float64Array(rows * SHAPE.experts);
      router.host!.backward(scores, BATCH, 'train', out, coefficients, weights, analytic, noise);
      const step = 1e-6;
      const numeric = Float64Array.from(analytic, (_, i) => {
        const up = Float64Array.from(scores.values);
        const down = Float64Array.from(scores.values);
        up[i] += step;
        down[i] -= step;
        return (lossAt(up) - lossAt(down)) / (2 * step);
      });
      const error = relativeError(analytic, numeric);
      assert.ok(error < 1e-5, `relative error ${error}`);
      assert.ok(
        analytic.some((v) => v !== 0),
        'a zero gradient proves nothing',
      );
    });
  }
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`sparse routers on ${backend}: the route op against each router's reference formulation`, () => {
    for (const { label, setting, noisy } of SPARSE_CASES) {
      it(label, async () => {
        await initEngine(backend);
        const rng = freshRng(`route op ${backend} ${label}`);
        const router = routerOf(setting, SHAPE);
        const d = 6;
        const rows = BATCH * SHAPE.patches;
        const patches = tf.tensor2d(randomScores(rng, rows, d));
        // Scores of a few units: probabilities that float32 does not round to 1 (ties that float64 would break).
        const kernel = tf.variable(tf.mul(tf.tensor2d(randomScores(rng, d, SHAPE.experts)), 0.15) as tf.Tensor2D);
        const noise = noisy ? tf.tensor2d(randomScores(rng, rows, SHAPE.experts)) : undefined;
        const input = { patches, kernel, batch: BATCH, mode: 'train' as const, ...(noise ? { noise } : {}) };
        const run = (route: typeof router.route) => {
          const { value, grads } = tf.variableGrads(() => {
            const dispatch = route(input) as SparseDispatch;
            // A fixed random function of the gates plus the weighted auxiliary losses.
            const c = tf.tensor(
              Float32Array.from({ length: dispatch.gates.size }, (_, i) => Math.sin(1 + i)),
              dispatch.gates.shape,
            );
            const { importance, load, zLoss } = router.auxiliaryWeights;
            return tf.add(
              tf.sum(tf.mul(dispatch.gates, c)),
              tf.sum(tf.mul(tf.slice(dispatch.metrics, [0], [3]), tf.tensor1d([importance, load, zLoss]))),
            ) as tf.Scalar;
          }, [kernel]);
          const dispatch = route(input) as SparseDispatch;
          const result = {
            rows: Array.from(dispatch.rows.dataSync()),
            gates: dispatch.gates.dataSync(),
            metrics: dispatch.metrics.dataSync(),
            value: value.dataSync()[0],
            grad: grads[kernel.name].dataSync(),
          };
          tf.dispose([value, ...Object.values(grads), dispatch.rows, dispatch.gates, dispatch.metrics]);
          return result;
        };
        const fast = run(router.route);
        const reference = run(router.reference);
        assert.deepEqual(fast.rows, reference.rows, 'the same patches in the same places');
        assert.ok(relativeError(fast.gates, reference.gates) < 1e-5, 'gates');
        assert.ok(relativeError(fast.metrics, reference.metrics) < 1e-4, `metrics ${Array.from(fast.metrics)} vs ${Array.from(reference.metrics)}`);
        assert.ok(relativeError(fast.grad, reference.grad) < 1e-4, `gradient: relative error ${relativeError(fast.grad, reference.grad)}`);
        tf.dispose([patches, kernel, ...(noise ? [noise] : [])]);
      });
    }
  });
}

describe('the registry', () => {
  it('names every router, fills defaults, and refuses unknown names and options naming what is allowed', () => {
    assert.deepEqual(ROUTER_NAMES, ['expert-choice', 'token-choice', 'batch-expert-choice', 'soft-moe']);
    assert.deepEqual(parseOptions(routerSettingSchema, 'token-choice', 'router'), {
      name: 'token-choice',
      topK: 1,
      capacityFactor: 1.05,
      batchPriority: false,
      noiseStd: 1,
      groupSize: 1,
      importanceLoss: 0.005,
      loadLoss: 0.005,
      zLoss: 0,
    });
    assert.throws(
      () => parseOptions(routerSettingSchema, 'top2', 'router'),
      /router\.name: must be a router name or \{ name, \.\.\.options \} with name one of 'expert-choice', 'token-choice'/,
    );
    assert.throws(() => parseOptions(routerSettingSchema, { name: 'token-choice', capacity: 3 }, 'router'), /unknown option 'capacity'/);
    assert.throws(() => routerOf({ name: 'token-choice', topK: 4 }, SHAPE), /router.topK must be an integer in 1..3/);
  });
});
