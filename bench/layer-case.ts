import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/backend.js';
import { PatchMoE } from '../src/routing/patch-moe-layer.js';
import { denseConvForwardFlops, patchMoeForwardFlops } from './flops.js';
import { encodeTensor, type WireTensor } from './wire.js';
import { readAndDispose, type Workload } from './workload.js';

/**
 * e. The pMoE layer of WRN-pMoE's CIFAR variant against a dense layer of (nearly) equal
 * parameters: an 8x8 map of 640 channels cut into n = 64 patches of 1x1, k = 4 experts of 160
 * 1x1 filters, l = 16 patches each; the dense layer is a 1x1 convolution 640 -> 640 over all
 * 64 positions. Forward passes only.
 * Parameters: PatchMoE 4 (640*160 + 160) + 640*4 (routers) = 412,800; dense 640*640 + 640 = 410,240.
 */
export const LAYER_SHAPE = { batch: 32, height: 8, width: 8, channels: 640, experts: 4, patchesPerExpert: 16, filtersPerExpert: 160 } as const;

function wire(tensor: tf.Tensor): WireTensor {
  return encodeTensor(tensor.dataSync() as Float32Array, tensor.shape);
}

function featureMap(): { x: tf.Tensor4D; inputs: Record<string, WireTensor> } {
  const { batch, height, width, channels } = LAYER_SHAPE;
  const x = tf.randomUniform([batch, height, width, channels], 0, 1, 'float32', 505) as tf.Tensor4D;
  return { x, inputs: { x: wire(x) } };
}

function layerWorkload(args: { id: string; title: string; flops: number; layer: tfl.layers.Layer; x: tf.Tensor4D; torch: Workload['torch'] }): Workload {
  const { layer, x } = args;
  const forward = () => layer.apply(x) as tf.Tensor;
  return {
    id: args.id,
    title: args.title,
    flops: args.flops,
    training: false,
    torch: args.torch,
    step: () => {
      tf.dispose(tf.tidy(forward));
    },
    output: () => readAndDispose(tf.tidy(forward)),
    dispose: () => {
      // Layer.dispose() refuses layers never applied symbolically: release the variables directly.
      for (const weight of layer.weights) weight.dispose();
      x.dispose();
    },
  };
}

/** The PatchMoE layer (the library's), forward. */
export function patchMoeLayerCase(): Workload {
  const { batch, height, width, channels, experts: k, patchesPerExpert: l, filtersPerExpert: f } = LAYER_SHAPE;
  const layer = new PatchMoE({ patchSize: 1, experts: k, patchesPerExpert: l, filtersPerExpert: f, kernelSize: 1, seed: 7 });
  const { x, inputs } = featureMap();
  layer.build(x.shape);
  const weights: Record<string, WireTensor> = {};
  const names = layer.weights.map((w) => w.originalName);
  layer.getWeights().forEach((value, i) => {
    const name = names[i];
    const expert = /expert(\d+)\/(kernel|bias)$/.exec(name);
    if (name.endsWith('router/kernel')) weights.router = wire(value);
    else if (expert) weights[`${expert[2]}${expert[1]}`] = wire(value);
    else throw new Error(`unexpected PatchMoE weight ${name}`);
  });
  return layerWorkload({
    id: 'e',
    title: `PatchMoE fwd, n=${height * width} 1x1, k=${k}x${f}, l=${l}, C=${channels}, B=${batch}`,
    flops: patchMoeForwardFlops(batch, height * width, 1, channels, k, l, f, 1),
    layer,
    x,
    torch: { kind: 'patch-moe', config: { c: channels, k, l, f }, weights, inputs },
  });
}

/** The dense comparison: a tfjs-layers 1x1 conv2d with 640 filters and bias over every position, forward. */
export function denseConvCase(): Workload {
  const { batch, height, width, channels } = LAYER_SHAPE;
  const out = LAYER_SHAPE.experts * LAYER_SHAPE.filtersPerExpert;
  const layer = tfl.layers.conv2d({ filters: out, kernelSize: 1, useBias: true, kernelInitializer: tfl.initializers.heNormal({ seed: 8 }) });
  const { x, inputs } = featureMap();
  layer.build(x.shape);
  // A zero bias would leave the bias path untested in the agreement check. (getWeights returns
  // the layer's own variables: not to be disposed.)
  const newBias = tf.randomNormal([out], 0, 0.1, 'float32', 9);
  layer.setWeights([layer.getWeights()[0], newBias]);
  newBias.dispose();
  const [kernel, bias] = layer.getWeights();
  return layerWorkload({
    id: 'e-dense',
    title: `dense 1x1 conv fwd, ${channels}->${out} at all ${height * width} positions, B=${batch}`,
    flops: denseConvForwardFlops(batch, height, width, channels, out, 1),
    layer,
    x,
    torch: { kind: 'dense-conv', config: { c: channels, out }, weights: { kernel: wire(kernel), bias: wire(bias) }, inputs },
  });
}
