import { tf } from '../src/engine/backend.js';
import { TwoLayerCnn } from '../src/models/two-layer-cnn.js';
import { TwoLayerPmoe } from '../src/models/two-layer-pmoe.js';
import { cnnStepFlops, pmoeStepFlops } from './flops.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { trainingWorkload, type Workload } from './workload.js';

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
  const labels = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % 2), 'int32');
  return { x, labels, inputs: { x: wire(x), labels: wire(labels) } };
}

/** a. The two-layer CNN (eq. 5), 40 neurons, one SGD step. */
export function cnnCase(): Workload {
  const { batch, n, d } = MNIST_PATCH;
  const m = 40;
  const model = new TwoLayerCnn({ patchCount: n, patchDim: d, neurons: m });
  const { x, labels, inputs } = batchOfPatches(101);
  return trainingWorkload({
    id: 'a',
    title: `CNN step, m=${m}, n=${n}, d=${d}, B=${batch}`,
    flops: cnnStepFlops(batch, n, d, m),
    model,
    variableNames: ['hidden'],
    x,
    labels,
    learningRate: LEARNING_RATE,
    torch: {
      kind: 'cnn',
      config: { n, d, m, formulation: TORCH_CNN_FORMULATION, lr: LEARNING_RATE },
      weights: { hidden: wire(model.hidden), output: wire(model.output) },
      inputs,
    },
  });
}

function pmoeCase(args: { id: string; title: string; k: number; h: number; l: number; gate: 'hard' | 'softmax-selected'; frozen: boolean; seed: number }): Workload {
  const { batch, n, d } = MNIST_PATCH;
  const { k, h, l, gate, frozen } = args;
  const model = new TwoLayerPmoe({ patchCount: n, patchDim: d, experts: k, neuronsPerExpert: h, patchesPerExpert: l, gate });
  model.routersFrozen = frozen;
  const { x, labels, inputs } = batchOfPatches(args.seed);
  return trainingWorkload({
    id: args.id,
    title: args.title,
    flops: pmoeStepFlops(batch, n, d, k, h, l, !frozen),
    model,
    variableNames: frozen ? ['experts'] : ['routers', 'experts'],
    x,
    labels,
    learningRate: LEARNING_RATE,
    torch: {
      kind: 'pmoe',
      config: { n, d, k, h, l, gate, routersFrozen: frozen, lr: LEARNING_RATE },
      weights: { routers: wire(model.routers), experts: wire(model.experts), output: wire(model.output) },
      inputs,
    },
  });
}

/** b. Separate training's expert phase: k = 2 experts x 20 neurons, l = 2, hard gate, routers frozen. */
export function separatePmoeCase(): Workload {
  return pmoeCase({ id: 'b', title: 'pMoE separate, expert phase, k=2x20, l=2, hard', k: 2, h: 20, l: 2, gate: 'hard', frozen: true, seed: 202 });
}

/** c. Joint training: the defaults, k = 8 experts x 5 neurons, l = 6, softmax over the selected. */
export function jointPmoeCase(): Workload {
  return pmoeCase({ id: 'c', title: 'pMoE joint, k=8x5, l=6, softmax-selected', k: 8, h: 5, l: 6, gate: 'softmax-selected', frozen: false, seed: 303 });
}
