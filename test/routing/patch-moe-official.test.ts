import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine, tf } from '../../src/engine/backend.js';
import { loadModelFiles, saveModelFiles } from '../../src/io/model-files.js';
import { GATE_MODES, type GateMode } from '../../src/routing/gate.js';
import { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { freshRng, gaussian } from '../support/random.js';
import type { Rng } from '../../src/util/random.js';

/**
 * The official formulation checked against the authors' Keras equations, written plainly in tf ops
 * (their gate layer, then per expert BatchNormalization, ReLU, Conv2D 'same', then concatenate):
 *   scores_s = conv(map, router_s reshaped [ph, pw, C, 1], stride = patch, 'valid'), flattened to n;
 *   softmax over the n scores, top l, the values scattered back by unsorted_segment_sum, repeated
 *   over each patch's ph * pw * C values and laid out as the map; the map times that gate map;
 *   BN with batch moments (training) or moving statistics; ReLU; conv + bias.
 * The other gate modes change only the values: softmax over the top-l scores, or ones.
 */

interface Setting {
  readonly label: string;
  readonly input: readonly [number, number, number, number];
  readonly patch: number;
  readonly experts: number;
  readonly patchesPerExpert: number;
  readonly filters: number;
  readonly kernelSize: number;
}

// The official CIFAR (1x1 patches of the 8x8 map, 4 experts of l = 16, 1x1 kernels) and CelebA
// (4x4 patches of the 16x16 map, 8 experts of l = 2, 3x3 kernels) settings, with fewer channels.
const SETTINGS: readonly Setting[] = [
  { label: 'CIFAR 1x1', input: [3, 8, 8, 8], patch: 1, experts: 4, patchesPerExpert: 16, filters: 2, kernelSize: 1 },
  { label: 'CelebA 3x3', input: [3, 16, 16, 8], patch: 4, experts: 8, patchesPerExpert: 2, filters: 2, kernelSize: 3 },
];
const MOMENTUM = 0.9;
const EPSILON = 1e-3;

/** Weights and input as plain arrays, so each backend builds its own tensors from the same numbers. */
interface Values {
  readonly input: Float64Array;
  readonly router: Float64Array;
  readonly kernels: Float64Array[];
  readonly biases: Float64Array[];
  readonly gammas: Float64Array[];
  readonly betas: Float64Array[];
  readonly movingMeans: Float64Array[];
  readonly movingVariances: Float64Array[];
  readonly probe: Float64Array;
}

const shapes = (s: Setting) => {
  const [batch, height, width, channels] = s.input;
  return {
    input: [batch, height, width, channels],
    router: [s.patch * s.patch * channels, s.experts],
    kernel: [s.kernelSize, s.kernelSize, channels, s.filters],
    bias: [s.filters],
    channel: [channels],
    output: [batch, height, width, s.experts * s.filters],
  };
};

function randomValues(rng: Rng, s: Setting): Values {
  const sh = shapes(s);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const perExpert = (make: () => Float64Array) => Array.from({ length: s.experts }, make);
  const channels = size(sh.channel);
  return {
    input: gaussian(rng, size(sh.input)),
    router: gaussian(rng, size(sh.router), 0.5),
    kernels: perExpert(() => gaussian(rng, size(sh.kernel), 0.3)),
    biases: perExpert(() => gaussian(rng, s.filters, 0.2)),
    gammas: perExpert(() => gaussian(rng, channels, 0.2).map((v) => 1 + v)),
    betas: perExpert(() => gaussian(rng, channels, 0.2)),
    movingMeans: perExpert(() => gaussian(rng, channels, 0.2)),
    movingVariances: perExpert(() => Float64Array.from({ length: channels }, () => 0.5 + rng.next())),
    probe: gaussian(rng, size(sh.output)),
  };
}

/** The smallest gap between an expert's l-th and (l+1)-th score over every image: near ties could route differently in float32. */
function selectionMargin(v: Values, s: Setting): number {
  const [batch, height, width, channels] = s.input;
  const rows = height / s.patch;
  const cols = width / s.patch;
  let margin = Infinity;
  for (let b = 0; b < batch; b++) {
    for (let e = 0; e < s.experts; e++) {
      const scores: number[] = [];
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          let score = 0;
          for (let y = 0; y < s.patch; y++)
            for (let x = 0; x < s.patch; x++)
              for (let ch = 0; ch < channels; ch++) {
                const value = v.input[((b * height + r * s.patch + y) * width + c * s.patch + x) * channels + ch];
                score += value * v.router[((y * s.patch + x) * channels + ch) * s.experts + e];
              }
          scores.push(score);
        }
      }
      scores.sort((a, b2) => b2 - a);
      margin = Math.min(margin, scores[s.patchesPerExpert - 1] - scores[s.patchesPerExpert]);
    }
  }
  return margin;
}

interface Tensors {
  input: tf.Tensor4D;
  router: tf.Tensor2D;
  kernels: tf.Tensor4D[];
  biases: tf.Tensor1D[];
  gammas: tf.Tensor1D[];
  betas: tf.Tensor1D[];
  movingMeans: tf.Tensor1D[];
  movingVariances: tf.Tensor1D[];
}

/** The official code's forward, in plain tf ops; with `training`, also the moving statistics BN would write. */
function officialReference(t: Tensors, s: Setting, gate: GateMode, training: boolean) {
  const [batch, height, width, channels] = s.input;
  const rows = height / s.patch;
  const cols = width / s.patch;
  const n = rows * cols;
  const l = s.patchesPerExpert;
  const updated: { mean: tf.Tensor; variance: tf.Tensor }[] = [];
  const outputs = t.kernels.map((kernel, e) => {
    const gatingKernel = tf.reshape(tf.slice(t.router, [0, e], [-1, 1]), [s.patch, s.patch, channels, 1]) as tf.Tensor4D;
    const scores = tf.reshape(tf.transpose(tf.conv2d(t.input, gatingKernel, [s.patch, s.patch], 'valid'), [0, 3, 1, 2]), [batch, n]);
    let values: tf.Tensor;
    let indices: tf.Tensor;
    if (gate === 'softmax-all') {
      ({ values, indices } = tf.topk(tf.softmax(scores), l, false));
    } else {
      const top = tf.topk(scores, l, false);
      indices = top.indices;
      values = gate === 'softmax-selected' ? tf.softmax(top.values) : tf.onesLike(top.values);
    }
    const imageOffsets = tf.cast(tf.mul(tf.floorDiv(tf.range(0, batch * l, 1, 'int32'), l), n), 'int32');
    // Integer indices carry no gradient (in TF neither); a copy takes them off tfjs's tape.
    const flatIndices = tf.tensor1d(tf.add(tf.reshape(indices, [-1]), imageOffsets).dataSync() as Int32Array, 'int32');
    const scattered = tf.unsortedSegmentSum(tf.reshape(values, [-1]), flatIndices, batch * n);
    const perPatch = tf.tile(tf.reshape(scattered, [batch, rows, cols, 1]), [1, 1, 1, s.patch * s.patch * channels]);
    const laidOut = tf.transpose(tf.reshape(perPatch, [batch, rows, cols, s.patch, s.patch, channels]), [0, 1, 3, 2, 4, 5]);
    const gated = tf.mul(t.input, tf.reshape(laidOut, [batch, height, width, channels]));
    let normalised: tf.Tensor;
    if (training) {
      const mean = tf.mean(gated, [0, 1, 2]);
      const variance = tf.mean(tf.square(tf.sub(gated, mean)), [0, 1, 2]);
      normalised = tf.add(tf.mul(tf.div(tf.sub(gated, mean), tf.sqrt(tf.add(variance, EPSILON))), t.gammas[e]), t.betas[e]);
      updated.push({
        mean: tf.add(tf.mul(t.movingMeans[e], MOMENTUM), tf.mul(mean, 1 - MOMENTUM)),
        variance: tf.add(tf.mul(t.movingVariances[e], MOMENTUM), tf.mul(variance, 1 - MOMENTUM)),
      });
    } else {
      normalised = tf.add(tf.mul(tf.div(tf.sub(gated, t.movingMeans[e]), tf.sqrt(tf.add(t.movingVariances[e], EPSILON))), t.gammas[e]), t.betas[e]);
    }
    return tf.add(tf.conv2d(tf.relu(normalised) as tf.Tensor4D, kernel, 1, 'same'), t.biases[e]);
  });
  return { output: tf.concat(outputs, 3), updated };
}

const tensorsOf = (v: Values, s: Setting): Tensors => {
  const sh = shapes(s);
  const f32 = (a: Float64Array) => Float32Array.from(a);
  return {
    input: tf.tensor4d(f32(v.input), sh.input as [number, number, number, number]),
    router: tf.tensor2d(f32(v.router), sh.router as [number, number]),
    kernels: v.kernels.map((k) => tf.tensor4d(f32(k), sh.kernel as [number, number, number, number])),
    biases: v.biases.map((b) => tf.tensor1d(f32(b))),
    gammas: v.gammas.map((g) => tf.tensor1d(f32(g))),
    betas: v.betas.map((b) => tf.tensor1d(f32(b))),
    movingMeans: v.movingMeans.map((m) => tf.tensor1d(f32(m))),
    movingVariances: v.movingVariances.map((m) => tf.tensor1d(f32(m))),
  };
};

interface Outcome {
  output: Float32Array;
  /** Gradients of sum(output * probe): input, router, then per expert kernel, bias, gamma, beta. */
  grads: Float32Array[];
  movingMeans: Float32Array[];
  movingVariances: Float32Array[];
}

/** The reference on the cpu backend (tfjs has UnsortedSegmentSum there), gradients by tfjs autodiff. */
async function referenceOutcome(v: Values, s: Setting, gate: GateMode, training: boolean): Promise<Outcome> {
  await initEngine('cpu');
  const t = tensorsOf(v, s);
  const probe = tf.tensor(Float32Array.from(v.probe), shapes(s).output);
  const differentiable = [t.input, t.router, ...t.kernels.flatMap((k, e) => [k, t.biases[e], t.gammas[e], t.betas[e]])];
  const rebuild = (xs: tf.Tensor[]): Tensors => {
    const [input, router, ...rest] = xs;
    const at = (i: number) => t.kernels.map((_, e) => rest[4 * e + i]);
    return {
      ...t,
      input: input as tf.Tensor4D,
      router: router as tf.Tensor2D,
      kernels: at(0) as tf.Tensor4D[],
      biases: at(1) as tf.Tensor1D[],
      gammas: at(2) as tf.Tensor1D[],
      betas: at(3) as tf.Tensor1D[],
    };
  };
  const forward = officialReference(t, s, gate, training);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(officialReference(rebuild(xs), s, gate, training).output, probe)))(differentiable);
  const outcome: Outcome = {
    output: forward.output.dataSync() as Float32Array,
    grads: grads.map((g) => g.dataSync() as Float32Array),
    movingMeans: forward.updated.map((u) => u.mean.dataSync() as Float32Array),
    movingVariances: forward.updated.map((u) => u.variance.dataSync() as Float32Array),
  };
  tf.dispose([
    ...differentiable,
    ...t.movingMeans,
    ...t.movingVariances,
    probe,
    forward.output,
    ...grads,
    ...forward.updated.flatMap((u) => [u.mean, u.variance]),
  ]);
  return outcome;
}

function officialLayer(s: Setting, gate: GateMode): PatchMoE {
  return new PatchMoE({
    patchSize: s.patch,
    experts: s.experts,
    patchesPerExpert: s.patchesPerExpert,
    filtersPerExpert: s.filters,
    kernelSize: s.kernelSize,
    gate,
    formulation: 'official',
    batchNormMomentum: MOMENTUM,
    batchNormEpsilon: EPSILON,
  });
}

/** A weight's name inside the layer (built inside a model, tfjs prefixes the layer's name). */
const shortName = (layer: PatchMoE, w: tfl.LayerVariable) => w.originalName.replace(new RegExp(`^${layer.name}/`), '');
const weightOf = (layer: PatchMoE, name: string) => layer.weights.find((w) => shortName(layer, w) === name)!;

/** Sets the layer's weights by name from the arrays. */
function setLayerWeights(layer: PatchMoE, v: Values, s: Setting): void {
  const t = tensorsOf(v, s);
  const byName = new Map<string, tf.Tensor>([['router/kernel', t.router]]);
  t.kernels.forEach((k, e) => {
    byName.set(`expert${e}/kernel`, k);
    byName.set(`expert${e}/bias`, t.biases[e]);
    byName.set(`expert${e}_bn/gamma`, t.gammas[e]);
    byName.set(`expert${e}_bn/beta`, t.betas[e]);
    byName.set(`expert${e}_bn/moving_mean`, t.movingMeans[e]);
    byName.set(`expert${e}_bn/moving_variance`, t.movingVariances[e]);
  });
  assert.deepEqual(new Set(layer.weights.map((w) => shortName(layer, w))), new Set(byName.keys()));
  layer.setWeights(layer.weights.map((w) => byName.get(shortName(layer, w))!));
  tf.dispose([t.input, ...byName.values()]);
}

async function layerOutcome(backend: 'cpu' | 'wasm', v: Values, s: Setting, gate: GateMode, training: boolean): Promise<Outcome> {
  await initEngine(backend);
  const layer = officialLayer(s, gate);
  const input = tf.variable(tf.tensor4d(Float32Array.from(v.input), shapes(s).input as [number, number, number, number]));
  const probe = tf.tensor(Float32Array.from(v.probe), shapes(s).output);
  tf.dispose(layer.apply(input, { training: false }) as tf.Tensor); // builds it
  setLayerWeights(layer, v, s);
  const weight = (name: string) => weightOf(layer, name);
  const trainable = ['router/kernel', ...v.kernels.flatMap((_, e) => [`expert${e}/kernel`, `expert${e}/bias`, `expert${e}_bn/gamma`, `expert${e}_bn/beta`])];
  const variables = [input, ...trainable.map((name) => weight(name).read() as tf.Variable)];
  let output: Float32Array | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const y = layer.apply(input, { training }) as tf.Tensor;
    output = y.dataSync().slice() as Float32Array;
    return tf.sum(tf.mul(y, probe)) as tf.Scalar;
  }, variables);
  const read = (name: string) => weight(name).read().dataSync().slice() as Float32Array;
  const outcome: Outcome = {
    output: output!,
    grads: variables.map((variable) => grads[variable.name].dataSync().slice() as Float32Array),
    movingMeans: v.kernels.map((_, e) => read(`expert${e}_bn/moving_mean`)),
    movingVariances: v.kernels.map((_, e) => read(`expert${e}_bn/moving_variance`)),
  };
  tf.dispose([input, probe, value, ...Object.values(grads)]);
  layer.dispose();
  return outcome;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = 2e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance * scale, `${what}[${i}]: ${actual[i]}, expected ${expected[i]} (scale ${scale})`);
  }
}

/** Fresh random values whose routing has no near tie. */
function untiedValues(label: string, s: Setting): Values {
  const rng = freshRng(label);
  for (let attempt = 0; attempt < 20; attempt++) {
    const v = randomValues(rng, s);
    if (selectionMargin(v, s) > 1e-3) return v;
  }
  throw new Error(`${label}: no untied draw in 20 attempts`);
}

describe('PatchMoE official formulation against the official code written plainly', () => {
  for (const s of SETTINGS) {
    for (const gate of GATE_MODES) {
      it(`${s.label}, gate ${gate}, training: forward, every gradient and the moving statistics, on cpu and wasm`, async () => {
        const v = untiedValues(`official-${s.label}-${gate}`, s);
        const expected = await referenceOutcome(v, s, gate, true);
        const names = ['input', 'router', ...v.kernels.flatMap((_, e) => [`expert${e} kernel`, `expert${e} bias`, `expert${e} gamma`, `expert${e} beta`])];
        for (const backend of ['cpu', 'wasm'] as const) {
          const actual = await layerOutcome(backend, v, s, gate, true);
          assertClose(actual.output, expected.output, `${backend} output`);
          names.forEach((name, i) => {
            if (name === 'router' && gate === 'hard') {
              assert.ok(
                actual.grads[i].every((g) => g === 0),
                'a hard gate passes no gradient to the router',
              );
            } else {
              assertClose(actual.grads[i], expected.grads[i], `${backend} gradient of ${name}`, 5e-4);
            }
          });
          // Every gradient the plain formulation has is nonzero somewhere (no part of the layer is cut off).
          expected.grads.forEach((g, i) => assert.ok(gate === 'hard' && i === 1 ? true : g.some((x) => x !== 0), `${names[i]} has a gradient`));
          v.kernels.forEach((_, e) => {
            assertClose(actual.movingMeans[e], expected.movingMeans[e], `${backend} expert${e} moving mean`);
            assertClose(actual.movingVariances[e], expected.movingVariances[e], `${backend} expert${e} moving variance`);
          });
        }
      });
    }
    it(`${s.label}: inference uses the moving statistics and leaves them as they are`, async () => {
      const v = untiedValues(`official-inference-${s.label}`, s);
      const expected = await referenceOutcome(v, s, 'softmax-all', false);
      for (const backend of ['cpu', 'wasm'] as const) {
        const actual = await layerOutcome(backend, v, s, 'softmax-all', false);
        assertClose(actual.output, expected.output, `${backend} output`);
        assertClose(actual.grads[0], expected.grads[0], `${backend} input gradient`, 5e-4);
        v.kernels.forEach((_, e) => {
          assertClose(actual.movingMeans[e], Float32Array.from(v.movingMeans[e]), `expert${e} moving mean`, 0);
          assertClose(actual.movingVariances[e], Float32Array.from(v.movingVariances[e]), `expert${e} moving variance`, 0);
        });
      }
    });
  }

  it('with 1x1 kernels, every position an expert did not take carries one learned constant', async () => {
    await initEngine('wasm');
    const s = SETTINGS[0];
    const v = untiedValues('official-constant', s);
    const layer = officialLayer(s, 'softmax-all');
    const input = tf.tensor4d(Float32Array.from(v.input), shapes(s).input as [number, number, number, number]);
    tf.dispose(layer.apply(input, { training: false }) as tf.Tensor); // builds it
    setLayerWeights(layer, v, s);
    const output = (layer.apply(input, { training: false }) as tf.Tensor).arraySync() as number[][][][];
    const indices = layer.routing(input).indices.arraySync();
    const [batch, height, width] = s.input;
    for (let e = 0; e < s.experts; e++) {
      const unchosen: number[][] = [];
      for (let b = 0; b < batch; b++) {
        const taken = new Set(indices[b][e]);
        for (let p = 0; p < height * width; p++) {
          if (!taken.has(p)) unchosen.push(output[b][Math.floor(p / width)][p % width].slice(e * s.filters, (e + 1) * s.filters));
        }
      }
      assert.equal(unchosen.length, batch * (height * width - s.patchesPerExpert));
      for (const values of unchosen) assertClose(values, unchosen[0], `expert${e} at a position it did not take`, 1e-6);
      assert.ok(
        unchosen[0].some((x) => x !== 0),
        'the constant is not zero (conv(ReLU(BN(0))) + bias)',
      );
    }
    tf.dispose([input]);
    layer.dispose();
  });

  it('saves and loads (config round trip, moving statistics kept): the same inference outputs', async () => {
    await initEngine('wasm');
    const rng = freshRng('official-save');
    const input = tfl.input({ shape: [8, 8, 4] });
    const moe = new PatchMoE({
      patchSize: 2,
      experts: 2,
      patchesPerExpert: 3,
      filtersPerExpert: 3,
      kernelSize: 3,
      gate: 'softmax-all',
      formulation: 'official',
      seed: rng.int(1000),
    });
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(moe.apply(input)) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
    const x = tf.randomNormal([4, 8, 8, 4], 0, 1, 'float32', rng.int(1000));
    tf.dispose(model.apply(x, { training: true }) as tf.Tensor); // moves the moving statistics off (0, 1)
    const before = (model.predict(x) as tf.Tensor).dataSync();
    const dir = await mkdtemp(join(tmpdir(), 'pmoe-official-save-'));
    try {
      await saveModelFiles(model, dir);
      const loaded = await loadModelFiles(dir);
      const layer = loaded.layers.find((l) => l instanceof PatchMoE) as PatchMoE;
      assert.deepEqual(layer.getConfig(), { ...moe.getConfig(), name: layer.name });
      assert.equal(layer.settings.formulation, 'official');
      assert.ok(layer.weights.some((w) => w.originalName.endsWith('expert1_bn/moving_variance')));
      const after = (loaded.predict(x) as tf.Tensor).dataSync();
      assertClose(after, before, 'loaded model output', 1e-6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
