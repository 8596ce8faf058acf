import { tf } from '../src/engine/backend.js';
import { TwoLayerCnn } from '../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../src/models/two-layer-pmoe.js';
import type { PatchDataset } from '../src/data/dataset.js';
import { FusedCnn } from '../src/training/fused-cnn.js';
import { FusedPmoe } from '../src/training/fused-pmoe.js';
import type { StepPath } from '../src/training/train.js';
import { cnnStepFlops, pmoeStepFlops } from './flops.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { fusedWorkload, trainingWorkload, type TorchSetup, type Workload } from './workload.js';

/** MNIST-patch shapes: a 112x112 image is n = 16 patches of d = 28 x 28 = 784 values; batch 20. */
export const MNIST_PATCH = { batch: 20, n: 16, d: 784 } as const;
/** Plain SGD, as in the paper's MNIST experiments. */
export const LEARNING_RATE = 0.2;

/** Which formulation the PyTorch CNN uses: 'conv' (28x28 stride-28 conv2d over [B, 1, 112, 112]) was the faster one here. */
export const TORCH_CNN_FORMULATION = 'conv';

function wire(tensor: tf.Tensor): WireTensor {
  return encodeTensor(tensor.dataSync() as Float32Array | Int32Array, tensor.shape);
}

/** A fixed batch: pixel-like values in [0, 1) and alternating labels (class 0 is y = +1). */
function batchOfPatches(seed: number) {
  const { batch, n, d } = MNIST_PATCH;
  const x = tf.randomUniform([batch, n, d], 0, 1, 'float32', seed) as tf.Tensor3D;
  const labels = tf.tensor1d(
    Int32Array.from({ length: batch }, (_, i) => i % 2),
    'int32',
  );
  return { x, labels, inputs: { x: wire(x), labels: wire(labels) } };
}

/** The benchmark batch as a data set of its own, for the fused trainers. */
function asDataset(x: tf.Tensor3D, labels: tf.Tensor1D): PatchDataset {
  const [count, patchCount, patchDim] = x.shape;
  return {
    patches: x.dataSync() as Float32Array,
    labels: labels.dataSync() as Int32Array,
    discriminativePatch: new Int32Array(count).fill(-1),
    count,
    patchCount,
    patchDim,
    classes: 2,
  };
}

/** One SGD step of `model` on the batch, on the fused path (what training runs) or the autodiff path (the reference). */
function modelWorkload(args: {
  id: string;
  title: string;
  flops: number;
  model: TwoLayerCnn | TwoLayerPmoe;
  variableNames: string[];
  x: tf.Tensor3D;
  labels: tf.Tensor1D;
  torch: TorchSetup;
  path: StepPath;
}): Workload {
  const { model, x, labels, path } = args;
  if (path === 'autodiff') return trainingWorkload({ ...args, learningRate: LEARNING_RATE });
  const set = asDataset(x, labels);
  const settings = { learningRate: LEARNING_RATE, batchSize: set.count };
  const trainer = model instanceof TwoLayerCnn ? new FusedCnn(model, set, set, settings) : new FusedPmoe(model, set, set, settings);
  return fusedWorkload({
    ...args,
    trainer,
    samples: Array.from({ length: set.count }, (_, i) => i),
    dispose: () => {
      trainer.dispose();
      model.dispose();
      tf.dispose([x, labels]);
    },
  });
}

/** a. The two-layer CNN (eq. 5), 40 neurons, one SGD step. */
export function cnnCase(path: StepPath = 'fused'): Workload {
  const { batch, n, d } = MNIST_PATCH;
  const m = 40;
  const model = new TwoLayerCnn({ patchCount: n, patchDim: d, neurons: m });
  const { x, labels, inputs } = batchOfPatches(101);
  return modelWorkload({
    id: 'a',
    title: `CNN step, m=${m}, n=${n}, d=${d}, B=${batch}`,
    flops: cnnStepFlops(batch, n, d, m),
    model,
    variableNames: ['hidden'],
    x,
    labels,
    path,
    torch: {
      kind: 'cnn',
      config: { n, d, m, formulation: TORCH_CNN_FORMULATION, lr: LEARNING_RATE },
      weights: { hidden: wire(model.hidden), output: wire(model.output) },
      inputs,
    },
  });
}

function pmoeCase(args: {
  id: string;
  title: string;
  k: number;
  h: number;
  l: number;
  gate: 'hard' | 'softmax-selected';
  frozen: boolean;
  seed: number;
  path: StepPath;
}): Workload {
  const { batch, n, d } = MNIST_PATCH;
  const { k, h, l, gate, frozen } = args;
  const model = new TwoLayerPmoe({ patchCount: n, patchDim: d, experts: k, neuronsPerExpert: h, patchesPerExpert: l, gate });
  model.routersFrozen = frozen;
  const { x, labels, inputs } = batchOfPatches(args.seed);
  return modelWorkload({
    id: args.id,
    title: args.title,
    flops: pmoeStepFlops(batch, n, d, k, h, l, !frozen),
    model,
    variableNames: frozen ? ['experts'] : ['routers', 'experts'],
    x,
    labels,
    path: args.path,
    torch: {
      kind: 'pmoe',
      config: { n, d, k, h, l, gate, routersFrozen: frozen, lr: LEARNING_RATE },
      weights: { routers: wire(model.routers), experts: wire(model.experts), output: wire(model.output) },
      inputs,
    },
  });
}

/**
 * b. Separate training's expert phase: k = 2 experts x 20 neurons, l = 2, hard gate, routers frozen.
 * The fused path routes the (fixed) batch once, when the trainer is built, as training does with
 * frozen routers: its step is the experts' alone.
 */
export function separatePmoeCase(path: StepPath = 'fused'): Workload {
  return pmoeCase({ id: 'b', title: 'pMoE separate, expert phase, k=2x20, l=2, hard', k: 2, h: 20, l: 2, gate: 'hard', frozen: true, seed: 202, path });
}

/** c. Joint training: the defaults, k = 8 experts x 5 neurons, l = 6, softmax over the selected. */
export function jointPmoeCase(path: StepPath = 'fused'): Workload {
  return pmoeCase({ id: 'c', title: 'pMoE joint, k=8x5, l=6, softmax-selected', k: 8, h: 5, l: 6, gate: 'softmax-selected', frozen: false, seed: 303, path });
}
