import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/backend.js';
import { modelFlops } from '../src/analysis/flops.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../src/models/wide-resnet.js';
import { performedFlops } from './flops.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { trainingWorkload, type Workload } from './workload.js';

/**
 * d. One WRN-pMoE training step as `trainImageModel` takes it: widening factor 1, the CIFAR setting
 * (32x32x3 input, 1x1 patches on the 8x8 map, k = 4 experts of 16 filters, l = 16, gate over all
 * n), batch 32, 10 classes, SGD at the image experiments' default learning rate, batch norm in
 * training mode (batch statistics; moving averages updated).
 */
export const WRN_SHAPE = { batch: 32, size: 32, channels: 3, classes: 10, wideningFactor: 1 } as const;
export const WRN_LEARNING_RATE = 0.1;

function wire(tensor: tf.Tensor): WireTensor {
  return encodeTensor(tensor.dataSync() as Float32Array | Int32Array, tensor.shape);
}

export function wrnPmoeCase(): Workload {
  const { batch, size, channels, classes, wideningFactor } = WRN_SHAPE;
  const model: tfl.LayersModel = buildWrnPmoe({ ...WRN_PMOE_CIFAR, wideningFactor, classes, inputSize: size, channels, seed: 404 });
  const x = tf.randomUniform([batch, size, size, channels], 0, 1, 'float32', 405) as tf.Tensor4D;
  const labels = tf.tensor1d(
    Int32Array.from({ length: batch }, (_, i) => i % classes),
    'int32',
  );
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // Every weight (moving statistics too) travels by its layer's name (originalName: tfjs suffixes
  // variable names of later models in a process), so the peer starts from the same numbers.
  const weights: Record<string, WireTensor> = {};
  for (const weight of model.weights) weights[weight.originalName] = wire(weight.read());
  return trainingWorkload({
    id: 'd',
    title: `WRN-pMoE step, w=${wideningFactor}, ${size}x${size}x${channels}, k=4x16, l=16, B=${batch}`,
    flops: modelFlops(model, batch).trainStep,
    performedFlops: performedFlops(model, batch).trainStep,
    model: {
      forward: (images) => model.apply(images, { training: true }) as tf.Tensor2D,
      trainableVariables: () => variables,
      dispose: () => model.dispose(),
    },
    variableNames: model.trainableWeights.map((w) => w.originalName),
    x,
    labels,
    learningRate: WRN_LEARNING_RATE,
    torch: {
      kind: 'wrn-pmoe',
      config: { lr: WRN_LEARNING_RATE, momentum: 0.99, epsilon: 1e-3, patchesPerExpert: WRN_PMOE_CIFAR.patchesPerExpert, experts: WRN_PMOE_CIFAR.experts },
      weights,
      inputs: { x: wire(x), labels: wire(labels) },
    },
  });
}
