import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../src/engine/backend.js';
import { modelFlops } from '../src/analysis/flops.js';
import { convGeometry } from '../src/kernels/conv-gemm.js';
import { convAlgorithm, type ConvPass } from '../src/kernels/convolution.js';

/**
 * Analytic FLOP counts of one benchmark step (multiply and add count as two). Only matrix
 * products and convolutions are counted; elementwise work (ReLU, softmax, the loss, the SGD
 * update) is left out, so the GFLOP/s figures are slight underestimates of the work done.
 *
 * Training steps: the two-layer models (a-c) count the work a step must do. Their products read
 * data (the patches), whose gradient neither side computes, and their output layer is fixed, so
 * each trained product costs its forward and one gradient: 2 x forward. The Wide-ResNet steps
 * follow the usual convention, 3 x forward (forward, gradient of the weights, gradient of the
 * input), which overstates the stem's work only. Both sides are counted the same way, so the
 * ratios are unaffected.
 */

/** A [rows, inner] x [inner, cols] matrix product. */
export function matmulFlops(rows: number, inner: number, cols: number): number {
  return 2 * rows * inner * cols;
}

/**
 * Two-layer CNN (eq. 5), batch B, n patches of d values, m neurons, one SGD step:
 *   forward = 2 B n d m (hidden products) + 2 B m (fixed output layer)
 *   step    = 2 x forward (the hidden weights' gradient; the output layer's input gradient).
 */
export function cnnStepFlops(batch: number, n: number, d: number, m: number): number {
  return 2 * (matmulFlops(batch * n, d, m) + matmulFlops(batch, m, 1));
}

/**
 * Two-layer pMoE (eq. 1), batch B, n patches of d values, k experts of h neurons, l patches each:
 *   router  = 2 B n d k   (scores g_{j,s} of every patch for every expert)
 *   experts = 2 k B l d h (each expert multiplies only its B l gathered patches)
 *   output  = 2 B k h
 *   step    = 2 (experts + output) + (2 if the routers are trained, else 1) router.
 * Frozen routers (separate training's expert phase, hard gate) run forward only.
 */
export function pmoeStepFlops(batch: number, n: number, d: number, k: number, h: number, l: number, routersTrained: boolean): number {
  const router = matmulFlops(batch * n, d, k);
  const experts = k * matmulFlops(batch * l, d, h);
  const output = matmulFlops(batch, k * h, 1);
  return 2 * (experts + output) + (routersTrained ? 2 : 1) * router;
}

/**
 * PatchMoE layer forward on a [B, H, W, C] map cut into n patches of p x p positions, k experts
 * of f filters with a q x q kernel, l patches each:
 *   router  = 2 B n (p p C) k
 *   experts = 2 k (B l p p) (q q C) f
 *   forward = router + experts    (no backward: this case times the forward only).
 */
export function patchMoeForwardFlops(
  batch: number,
  n: number,
  patchSide: number,
  channels: number,
  k: number,
  l: number,
  f: number,
  kernelSize: number,
): number {
  const area = patchSide * patchSide;
  const router = matmulFlops(batch * n, area * channels, k);
  const experts = k * matmulFlops(batch * l * area, kernelSize * kernelSize * channels, f);
  return router + experts;
}

/** A dense q x q convolution C -> C' over every position of a [B, H, W, C] map, stride 1: 2 B H W q q C C'. */
export function denseConvForwardFlops(batch: number, height: number, width: number, channels: number, out: number, kernelSize: number): number {
  return matmulFlops(batch * height * width, kernelSize * kernelSize * channels, out);
}

/**
 * The share of direct convolution's multiply-adds that Winograd F(m x m, 3x3) does on an h x w
 * output: its products take t^2 = (m + 2)^2 multiply-adds per channel pair and tile, direct
 * convolution 9 per channel pair and output pixel; tiles past the map's edge count whole.
 * 4 / 9 (2.25x fewer) for m = 2, 1 / 4 for m = 4, on maps whose sides m divides.
 */
export function winogradMultiplyShare(m: number, height: number, width: number): number {
  return (Math.ceil(height / m) * Math.ceil(width / m) * (m + 2) ** 2) / (9 * height * width);
}

/**
 * The FLOPs (2 per multiply-add) that pmoe's kernels do in one forward pass and one training step
 * of a Wide-ResNet, against modelFlops' direct count: each convolution pass at the share of its
 * algorithm (convolution.ts's choice for the layer's geometry; Winograd's from
 * winogradMultiplyShare), everything else as counted there. The same passes as the direct count
 * (a training step: forward, input and filter gradient of every layer), so the two compare.
 */
export function performedFlops(model: tfl.LayersModel, batch: number): { forward: number; trainStep: number } {
  const direct = modelFlops(model, batch);
  let forward = direct.forward;
  let trainStep = direct.trainStep;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const config = layer.getConfig() as { kernelSize: number[]; strides: number[]; padding: 'same' | 'valid' };
    const shapes = layer.inboundNodes[0].inputShapes;
    const [, h, w, ci] = (Array.isArray(shapes[0]) ? shapes[0] : shapes) as number[];
    const co = (layer.outputShape as number[])[3];
    const info = tf.backend_util.computeConv2DInfo(
      [batch, h, w, ci],
      [config.kernelSize[0], config.kernelSize[1], ci, co],
      config.strides as [number, number],
      1,
      config.padding,
    );
    const g = convGeometry(info);
    if (g === null) continue;
    const passFlops = direct.perLayer.find((entry) => entry.name === layer.name)!.forward;
    const share = (pass: ConvPass) => {
      const algorithm = convAlgorithm(g, pass);
      return algorithm === 'direct' ? 1 : winogradMultiplyShare(algorithm === 'winograd2' ? 2 : 4, info.outHeight, info.outWidth);
    };
    const [forwardShare, inputShare, filterShare] = [share('forward'), share('inputGradient'), share('filterGradient')];
    forward -= passFlops * (1 - forwardShare);
    trainStep -= passFlops * (3 - forwardShare - inputShare - filterShare);
  }
  return { forward, trainStep };
}
