import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSplit } from '../../src/data/image-split.js';
import { initEngine, tf } from '../../src/engine/backend.js';
import { gemmThreads, setGemmThreads } from '../../src/kernels/gemm-threads.js';
import { buildWrnModel, resolveWrnModel, type WrnModelSpec } from '../../src/models/wide-resnet.js';
import { layersOf } from '../../src/models/wrn-layers.js';
import type { PatchMoE } from '../../src/routing/patch-moe-layer.js';
import { FusedWrn } from '../../src/training/fused-wrn.js';
import { classificationLoss } from '../../src/training/loss.js';
import type { Rng } from '../../src/util/random.js';
import { freshRng } from '../support/random.js';
import { relativeError } from '../support/relative-error.js';

/**
 * Logits, loss and moving statistics. Without fused multiply-adds the forward pass is the same
 * floats as tfjs's up to the head, which sums in float64 here and in float32 in tfjs (measured 1e-7
 * to 3e-7 relative on the logits; moving statistics and routing equal). With them (relaxed SIMD,
 * on by default in later Node versions), tfjs convolves a stem on fewer than 4 channels with
 * XNNPACK, which rounds a separate multiply and add, so everything after the stem moves by
 * rounding: logits by up to 8e-7, gates (below) by up to 1e-5.
 */
const TOLERANCE = 1e-5;
const GATE_TOLERANCE = 1e-4;
/**
 * Gradients: the head's float32 differences pass back through every layer, and sums of nearly
 * cancelling terms (a gated expert's bias gradient, the batch norms' sums) amplify them: measured
 * 1e-7 to 3.4e-5 relative over 200 random cases in both modes.
 */
const GRADIENT_TOLERANCE = 1e-4;
/**
 * A conv bias whose output reaches the loss only through batch norms has a gradient of zero in
 * exact arithmetic (batch norm removes any per-channel constant): both sides give rounding noise,
 * which is held to be this small against the model's largest gradient instead.
 */
const VANISHING = 1e-5;
/** Redraws allowed for images whose ReLU masks or routing rounding decides (see sameDecisions). */
const REDRAWS = 4;

interface Case {
  readonly label: string;
  readonly spec: WrnModelSpec;
  readonly inputSize: number;
  readonly channels: number;
  readonly batch: number;
}

function maxAbs(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

function randomSplit(rng: Rng, count: number, size: number, channels: number, classes: number): ImageSplit {
  return {
    images: Float32Array.from({ length: count * size * size * channels }, () => rng.next()),
    labels: Int32Array.from({ length: count }, () => rng.int(classes)),
    shape: [count, size, size, channels],
  };
}

const tensors = (split: ImageSplit) => ({
  x: tf.tensor4d(split.images, split.shape as [number, number, number, number]),
  y: tf.tensor1d(split.labels, 'int32'),
});

function patchMoeOf(model: tfl.LayersModel): PatchMoE | undefined {
  return model.layers.find((layer) => layer.getClassName() === 'PatchMoE') as PatchMoE | undefined;
}

/** The routing of a training-mode pass of the tfjs model on its PatchMoE's input (its moving statistics move). */
function tfjsRouting(moe: PatchMoE, input: tf.Tensor4D): { indices: Int32Array; gates: Float32Array } {
  const routing = tf.tidy(() => moe.routing(input));
  const result = { indices: routing.indices.dataSync() as Int32Array, gates: routing.gates.dataSync() as Float32Array };
  tf.dispose([routing.indices, routing.gates]);
  return result;
}

/** A tfjs model's training-mode outputs of these layers (its moving statistics move: use a model built for this). */
function tfjsOutputs(model: tfl.LayersModel, outputs: tfl.SymbolicTensor[], x: tf.Tensor4D): tf.Tensor4D[] {
  const probe = tfl.model({ inputs: model.inputs, outputs });
  const result = probe.apply(x, { training: true });
  return (Array.isArray(result) ? result : [result]) as tf.Tensor4D[];
}

/**
 * Whether both sides take the same discrete decisions on these images: every ReLU of the
 * description's bn-relu layers on the same side of 0, and the same patches routed. Where the
 * forward passes differ by rounding (with fused multiply-adds tfjs convolves a stem on 1 or 3
 * channels with XNNPACK), a value within rounding of a ReLU's kink, or two scores within rounding
 * of each other, can go either way, and the gradients then differ by design, not by a fault.
 */
function sameDecisions(config: ReturnType<typeof resolveWrnModel>, split: ImageSplit): boolean {
  const model = buildWrnModel(config);
  const fused = new FusedWrn(model, layersOf(model)!, { learningRate: 0.1, batchSize: split.shape[0] });
  const { x, y } = tensors(split);
  const batch = split.shape[0];
  try {
    fused.logits(
      split,
      Array.from({ length: batch }, (_, i) => i),
      true,
    );
    const relus = layersOf(model)!
      .layers.filter((layer) => layer.kind === 'bn-relu')
      .map((layer) => layer.name);
    const moe = patchMoeOf(model);
    const symbols = relus.map((name) => model.getLayer(`${name}_relu`).output as tfl.SymbolicTensor);
    // The sparse formulation's PatchMoE reads a bn-relu output (a model's outputs must differ).
    const moeInput = moe ? symbols.indexOf(moe.input as tfl.SymbolicTensor) : -1;
    if (moe && moeInput < 0) symbols.push(moe.input as tfl.SymbolicTensor);
    const outputs = tfjsOutputs(model, symbols, x);
    try {
      const masksAgree = relus.every((name, i) => {
        const [ours, theirs] = [fused.featureMap(name, batch), outputs[i].dataSync()];
        return ours.every((v, j) => v > 0 === theirs[j] > 0);
      });
      return masksAgree && (moe === undefined || tf.util.arraysEqual(fused.routing(batch)!.indices, tfjsRouting(moe, outputs.at(moeInput)!).indices));
    } finally {
      tf.dispose(outputs);
    }
  } finally {
    tf.dispose([x, y]);
    fused.dispose();
    model.dispose();
  }
}

/** The fused trainer against the tfjs model's autodiff on one random batch: logits, loss, every gradient, moving statistics, routing. */
function compare(c: Case): void {
  const classes = 3;
  const config = resolveWrnModel(c.spec, { classes, inputSize: c.inputSize, channels: c.channels, seed: 7 });
  const rng = freshRng(c.label);
  let split = randomSplit(rng, c.batch, c.inputSize, c.channels, classes);
  for (let redraw = 1; !sameDecisions(config, split); redraw++) {
    assert.ok(redraw <= REDRAWS, `ReLU masks or routing differed on ${redraw} draws: not rounding`);
    process.stdout.write(`# ${c.label}: a ReLU or the routing decided by rounding, images drawn again\n`);
    split = randomSplit(rng, c.batch, c.inputSize, c.channels, classes);
  }
  const model = buildWrnModel(config);
  const samples = Array.from({ length: c.batch }, (_, i) => i);
  // A capacity above the batch: the step must use only the batch's rows.
  const fused = new FusedWrn(model, layersOf(model)!, { learningRate: 0.1, batchSize: c.batch + 2 });
  const { x, y } = tensors(split);
  try {
    const inference = tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync() as Float32Array);
    const logitsError = relativeError(fused.logits(split, samples), inference);
    assert.ok(logitsError <= TOLERANCE, `inference-mode logits: relative error ${logitsError}`);
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => classificationLoss(model.apply(x, { training: true }) as tf.Tensor2D, y), variables);
    const result = fused.gradients(split, samples);
    const lossError = relativeError([result.loss], [value.dataSync()[0]]);
    assert.ok(lossError <= TOLERANCE, `loss: relative error ${lossError}`);
    const reference = new Map<string, Float32Array>();
    model.trainableWeights.forEach((weight, i) => {
      const grad = grads[variables[i].name];
      if (grad) reference.set(weight.originalName, grad.dataSync() as Float32Array);
    });
    // As tf: a router behind hard gates has no gradient (not a zero one).
    assert.deepEqual(Object.keys(result.grads).sort(), [...reference.keys()].sort(), 'the same weights get gradients');
    const scale = Math.max(...[...reference.values()].map(maxAbs));
    let worst = 0;
    for (const [name, expected] of reference) {
      const actual = result.grads[name];
      if (maxAbs(expected) <= VANISHING * scale) {
        assert.ok(maxAbs(actual) <= VANISHING * scale, `${name}: a vanishing gradient (${maxAbs(expected)}) came out ${maxAbs(actual)}`);
        continue;
      }
      const error = relativeError(actual, expected);
      worst = Math.max(worst, error);
      assert.ok(error <= GRADIENT_TOLERANCE, `gradient of ${name}: relative error ${error}`);
    }
    assert.ok(worst > 0 || reference.size === 0, 'gradients compared');

    // Moving statistics after one training-mode pass on each side.
    const moving = fused.movingStatistics();
    assert.ok(Object.keys(moving).length > 0);
    for (const weight of model.weights) {
      if (!(weight.originalName in moving)) continue;
      const error = relativeError(moving[weight.originalName], weight.read().dataSync());
      assert.ok(error <= TOLERANCE, `${weight.originalName}: relative error ${error}`);
    }

    const moe = patchMoeOf(model);
    if (moe) {
      // The routing of the training-mode pass (its moving statistics are compared above).
      const [input] = tfjsOutputs(model, [moe.input as tfl.SymbolicTensor], x);
      const routing = tfjsRouting(moe, input);
      input.dispose();
      const ours = fused.routing(c.batch)!;
      assert.deepEqual(ours.indices, routing.indices, 'chosen patches');
      const gateError = relativeError(ours.gates, routing.gates);
      assert.ok(gateError <= GATE_TOLERANCE, `gates: relative error ${gateError}`);
    }
    tf.dispose([value, ...Object.values(grads)]);
    process.stdout.write(
      `# ${c.label}: logits ${logitsError.toExponential(1)}, loss ${lossError.toExponential(1)}, worst gradient ${worst.toExponential(1)}\n`,
    );
  } finally {
    tf.dispose([x, y]);
    fused.dispose();
    model.dispose();
  }
}

const CIFAR = { architecture: 'wrn-pmoe', wideningFactor: 1, patchSize: 1, experts: 4, patchesPerExpert: 4, kernelSize: 1, routerInitStd: 0.5 } as const;
const CELEBA = { architecture: 'wrn-pmoe', wideningFactor: 1, patchSize: 4, experts: 8, patchesPerExpert: 2, kernelSize: 3, routerInitStd: 0.5 } as const;

const CASES: Case[] = [
  { label: 'WRN w = 1, 16x16x3, batch 3', spec: { architecture: 'wrn', wideningFactor: 1 }, inputSize: 16, channels: 3, batch: 3 },
  { label: 'WRN w = 2 (projected first block), 15x15x1, batch 1', spec: { architecture: 'wrn', wideningFactor: 2 }, inputSize: 15, channels: 1, batch: 1 },
  ...(['softmax-all', 'softmax-selected', 'hard'] as const).flatMap((gate): Case[] => [
    { label: `WRN-pMoE CIFAR-style (1x1 patches and experts), ${gate}, 16x16x1, batch 3`, spec: { ...CIFAR, gate }, inputSize: 16, channels: 1, batch: 3 },
    { label: `WRN-pMoE CelebA-style (4x4 patches, 3x3 experts), ${gate}, 32x32x3, batch 2`, spec: { ...CELEBA, gate }, inputSize: 32, channels: 3, batch: 2 },
  ]),
  {
    label: 'WRN-pMoE CIFAR-style with shortcut, 15x15x3 (odd: padding at the top), l = 5, batch 1',
    spec: { ...CIFAR, patchesPerExpert: 5, gate: 'softmax-all', shortcut: true },
    inputSize: 15,
    channels: 3,
    batch: 1,
  },
  {
    label: 'WRN-pMoE CelebA-style 2x2 patches, k = 4, router std 1e-4 (the default), batch 5',
    spec: { ...CELEBA, patchSize: 2, experts: 4, patchesPerExpert: 3, routerInitStd: 1e-4, gate: 'softmax-all' },
    inputSize: 16,
    channels: 1,
    batch: 5,
  },
];

describe('the fused image trainer (training/fused-wrn.ts) against tfjs autodiff on fresh random images', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      await initEngine('wasm');
      compare(c);
    });
  }
});

describe('the fused image trainer on two threads', () => {
  it('gives the same floats as on one thread (products and batch-norm passes split): two steps, then gradients and logits', async (t) => {
    await initEngine('wasm');
    if (gemmThreads() === null) return t.skip('no second thread here');
    const config = resolveWrnModel({ ...CELEBA, patchSize: 2, gate: 'softmax-all' }, { classes: 3, inputSize: 32, channels: 1, seed: 3 });
    // Batch 8 at 32x32x16: batch norm's passes cover 2^17 floats, above their split.
    const split = randomSplit(freshRng('fused image trainer threads'), 8, 32, 1, 3);
    const samples = Array.from({ length: 8 }, (_, i) => i);
    const trace = () => {
      const model = buildWrnModel(config);
      const fused = new FusedWrn(model, layersOf(model)!, { learningRate: 0.1, batchSize: 8 });
      try {
        fused.step(split, samples);
        fused.step(split, samples.slice(0, 5));
        return { twoThreads: fused.twoThreads, ...fused.gradients(split, samples), logits: fused.logits(split, samples), moving: fused.movingStatistics() };
      } finally {
        fused.dispose();
        model.dispose();
      }
    };
    const two = trace();
    setGemmThreads(false);
    let one;
    try {
      one = trace();
    } finally {
      setGemmThreads(true);
    }
    assert.equal(two.twoThreads, true);
    assert.equal(one.twoThreads, false);
    assert.deepEqual(two.logits, one.logits);
    assert.equal(two.loss, one.loss);
    assert.deepEqual(two.grads, one.grads);
    assert.deepEqual(two.moving, one.moving);
  });
});
