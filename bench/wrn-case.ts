import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/backend.js';
import { modelFlops } from '../src/analysis/flops.js';
import { buildWrnPmoe, WRN_PMOE_CIFAR } from '../src/models/wide-resnet.js';
import { performedFlops } from './flops.js';
import { layersOf } from '../src/models/wrn-layers.js';
import { FusedWrn } from '../src/training/fused-wrn.js';
import type { StepPath } from '../src/training/train.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { trainingWorkload, type Workload } from './workload.js';

/**
 * d. One WRN-pMoE training step as `trainImageModel` takes it: widening factor 1, the CIFAR setting
 * (32x32x3 input, 1x1 patches on the 8x8 map, k = 4 experts of 16 filters, l = 16, gate over all
 * n), batch 32, 10 classes, SGD at the image experiments' default learning rate, batch norm in
 * training mode (batch statistics; moving averages updated). `path` fused (on wasm): the tape-free
 * step of training/fused-wrn.ts, which trainImageModel takes there; autodiff: tfjs's layers under
 * tf.train.sgd (the reference, and what webgpu runs).
 */
export const WRN_SHAPE = { batch: 32, size: 32, channels: 3, classes: 10, wideningFactor: 1 } as const;
export const WRN_LEARNING_RATE = 0.1;

function wire(tensor: tf.Tensor): WireTensor {
  return encodeTensor(tensor.dataSync() as Float32Array | Int32Array, tensor.shape);
}

export function wrnPmoeCase(path: StepPath = 'fused'): Workload {
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
  const title = `WRN-pMoE step, w=${wideningFactor}, ${size}x${size}x${channels}, k=4x16, l=16, B=${batch}`;
  const torch = {
    kind: 'wrn-pmoe' as const,
    config: { lr: WRN_LEARNING_RATE, momentum: 0.99, epsilon: 1e-3, patchesPerExpert: WRN_PMOE_CIFAR.patchesPerExpert, experts: WRN_PMOE_CIFAR.experts },
    weights,
    inputs: { x: wire(x), labels: wire(labels) },
  };
  const flops = modelFlops(model, batch).trainStep;
  if (path === 'fused' && tf.getBackend() === 'wasm') {
    const split = { images: x.dataSync() as Float32Array, labels: labels.dataSync() as Int32Array, shape: [batch, size, size, channels] as const };
    const samples = Array.from({ length: batch }, (_, i) => i);
    const trainer = new FusedWrn(model, layersOf(model)!, { learningRate: WRN_LEARNING_RATE, batchSize: batch });
    return {
      id: 'd',
      title,
      flops,
      training: true,
      torch,
      step: () => void trainer.step(split, samples),
      output: () => trainer.logits(split, samples, true),
      loss: () => trainer.gradients(split, samples).loss,
      grads: () => trainer.gradients(split, samples).grads,
      dispose: () => {
        trainer.dispose();
        model.dispose();
        tf.dispose([x, labels]);
      },
    };
  }
  return trainingWorkload({
    id: 'd',
    title,
    flops,
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
    torch,
  });
}
