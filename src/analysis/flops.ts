/**
 * Analytic FLOPs of a tfjs Layers model (the WRN and WRN-pMoE of §5), layer by layer, from the
 * layers' configs and shapes. One multiply-add = 2 FLOPs.
 *
 * What is counted (per image, times `batch`):
 * - Conv2D: 2 * Hout * Wout * kh * kw * Cin * Cout (zero padding of 'same' convs counted as work,
 *   the usual convention; the bias add is not counted).
 * - Dense: 2 * inputs * units (bias not counted).
 * - PatchMoE, as its formulation computes it (routing/formulation.ts):
 *   routers 2 * n * (ph * pw * C) * k (every patch scored by every router), plus the experts:
 *   sparse: k * l patch convolutions of 2 * ph * pw * ks * ks * C * f each (an expert's ks x ks
 *   conv over one ph x pw patch, padding counted as in Conv2D), on the gathered patches only;
 *   official: k convolutions over the whole map, 2 * H * W * ks * ks * C * f each (n / l times the
 *   sparse experts' count). The top-l selection, the gate's softmax, the gate multiply, the
 *   official experts' batch norms and the gather/scatter copies are not counted.
 * - BatchNormalization, ReLU, Add, Concatenate, pooling, flatten and the like: ignored (0). They are
 *   elementwise, a few FLOPs per activation: for the paper's WRN (w = 10) under 1 % of the conv work.
 * Backward = 2 x forward for every parameterised layer (conv, dense, PatchMoE): one product for the
 * input gradient and one for the weight gradient. This overcounts the first conv, whose input
 * gradient is never needed, and the PatchMoE routers, whose gradient comes through the l gates
 * only; both are tiny. Ignored layers cost 0 backward too.
 *
 * A layer this module does not know that holds trainable weights is refused (an error naming it),
 * so a count is never silently short.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { PatchMoE } from '../routing/patch-moe-layer.js';
import type { Formulation } from '../routing/formulation.js';

export interface LayerFlops {
  readonly name: string;
  readonly className: string;
  /** Output shape without the batch axis. */
  readonly outputShape: number[];
  /** Trainable scalars of the layer. */
  readonly params: number;
  /** Forward FLOPs for the whole batch. */
  readonly forward: number;
  /** Backward FLOPs for the whole batch (2 x forward for parameterised layers, else 0). */
  readonly backward: number;
  /** How the layer was counted, e.g. 'conv 3x3 160->320 stride 2 on 32x32 -> 16x16'. */
  readonly formula: string;
  /** Parts of the count, where a layer has several (PatchMoE: routers, experts). */
  readonly parts?: Readonly<Record<string, number>>;
}

export interface ModelFlops {
  readonly batch: number;
  /** Forward FLOPs for one batch. */
  readonly forward: number;
  /** Backward FLOPs for one batch. */
  readonly backward: number;
  /** forward + backward: the arithmetic of one training step. */
  readonly trainStep: number;
  readonly perLayer: LayerFlops[];
}

/** Layers counted as 0 (elementwise, reshaping or routing-only work). */
const IGNORED = new Set([
  'InputLayer',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'Add',
  'Concatenate',
  'GlobalAveragePooling2D',
  'AveragePooling2D',
  'MaxPooling2D',
  'GlobalMaxPooling2D',
  'Flatten',
  'Dropout',
  'Reshape',
  'LeakyReLU',
]);

/** Forward FLOPs of one conv per image: 2 * Hout * Wout * kh * kw * Cin * Cout. */
export function conv2dFlops(outHeight: number, outWidth: number, kernelHeight: number, kernelWidth: number, inChannels: number, outChannels: number): number {
  return 2 * outHeight * outWidth * kernelHeight * kernelWidth * inChannels * outChannels;
}

/** Forward FLOPs of a dense layer per example: 2 * inputs * units. */
export function denseFlops(inputs: number, units: number): number {
  return 2 * inputs * units;
}

export interface PatchMoeFlopsArgs {
  /** Feature map height, width and channels of the PatchMoE input. */
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly patchHeight: number;
  readonly patchWidth: number;
  /** k. */
  readonly experts: number;
  /** l. */
  readonly patchesPerExpert: number;
  /** f: filters per expert. */
  readonly filtersPerExpert: number;
  /** Side of each expert's kernel. */
  readonly kernelSize: number;
  /** Default sparse. */
  readonly formulation?: Formulation;
}

/** Forward FLOPs of a PatchMoE per image: { routers, experts } (sparse: the experts on the gathered patches only). */
export function patchMoeFlops(a: PatchMoeFlopsArgs): { routers: number; experts: number } {
  const n = (a.height / a.patchHeight) * (a.width / a.patchWidth);
  const patchValues = a.patchHeight * a.patchWidth * a.channels;
  const routers = 2 * n * patchValues * a.experts;
  if (a.formulation === 'official')
    return { routers, experts: a.experts * conv2dFlops(a.height, a.width, a.kernelSize, a.kernelSize, a.channels, a.filtersPerExpert) };
  const perPatch = conv2dFlops(a.patchHeight, a.patchWidth, a.kernelSize, a.kernelSize, a.channels, a.filtersPerExpert);
  return { routers, experts: a.experts * a.patchesPerExpert * perPatch };
}

function known(shape: (number | null)[], what: string): number[] {
  if (shape.some((v) => v == null)) throw new Error(`modelFlops: ${what} has an unknown size: [${shape.join(', ')}]`);
  return shape as number[];
}

function singleShape(shape: tfl.Shape | tfl.Shape[], what: string): number[] {
  const first = Array.isArray(shape[0]) ? (shape[0] as tfl.Shape) : (shape as tfl.Shape);
  return known(first.slice(1), what);
}

/** The layer's input shape(s), from its first inbound node (models built once have one per layer). */
function inputShapeOf(layer: tfl.layers.Layer): tfl.Shape | tfl.Shape[] {
  const node = layer.inboundNodes[0];
  if (node === undefined) throw new Error(`modelFlops: layer '${layer.name}' has never been applied, so its input shape is unknown`);
  return node.inputShapes;
}

function pair(value: unknown): [number, number] {
  if (typeof value === 'number') return [value, value];
  const array = value as number[];
  return [array[0], array[array.length > 1 ? 1 : 0]];
}

function paramsOf(layer: tfl.layers.Layer): number {
  return layer.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

function layerFlops(layer: tfl.layers.Layer, batch: number): LayerFlops {
  const className = layer.getClassName();
  const name = layer.name;
  const params = paramsOf(layer);
  const outputShape = singleShape(layer.outputShape, `output of layer '${name}'`);
  const result = (perImage: number, formula: string, parts?: Record<string, number>): LayerFlops => {
    const forward = perImage * batch;
    const scaledParts = parts && Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v * batch]));
    return { name, className, outputShape, params, forward, backward: 2 * forward, formula, ...(scaledParts ? { parts: scaledParts } : {}) };
  };

  if (layer instanceof PatchMoE || className === 'PatchMoE') {
    const moe = layer as PatchMoE;
    const [height, width, channels] = singleShape(inputShapeOf(layer), `input of layer '${name}'`);
    const [patchHeight, patchWidth] = pair(moe.settings.patchSize);
    const { experts, patchesPerExpert, filtersPerExpert, kernelSize, formulation } = moe.settings;
    const parts = patchMoeFlops({ height, width, channels, patchHeight, patchWidth, experts, patchesPerExpert, filtersPerExpert, kernelSize, formulation });
    const n = (height / patchHeight) * (width / patchWidth);
    const expertConvs =
      formulation === 'official'
        ? `${experts} convs ${kernelSize}x${kernelSize} ${channels}->${filtersPerExpert} over the whole map (official formulation)`
        : `${experts} x ${patchesPerExpert} patch convs ${kernelSize}x${kernelSize} ${channels}->${filtersPerExpert}`;
    return result(
      parts.routers + parts.experts,
      `PatchMoE on ${height}x${width}x${channels}: ${experts} routers over ${n} patches of ${patchHeight}x${patchWidth}, ${expertConvs}`,
      parts,
    );
  }
  if (className === 'Conv2D') {
    const config = layer.getConfig();
    const [kh, kw] = pair(config.kernelSize);
    const [sh, sw] = pair(config.strides);
    const inShape = singleShape(inputShapeOf(layer), `input of layer '${name}'`);
    const [outH, outW, outC] = outputShape;
    return result(
      conv2dFlops(outH, outW, kh, kw, inShape[2], outC),
      `conv ${kh}x${kw} ${inShape[2]}->${outC} stride ${sh === sw ? sh : `${sh}x${sw}`} on ${inShape[0]}x${inShape[1]} -> ${outH}x${outW}`,
    );
  }
  if (className === 'Dense') {
    const inShape = singleShape(inputShapeOf(layer), `input of layer '${name}'`);
    const units = outputShape[outputShape.length - 1];
    const inputs = inShape[inShape.length - 1];
    // A dense layer on a rank > 2 input applies to each position.
    const positions = inShape.slice(0, -1).reduce((a, b) => a * b, 1);
    return result(positions * denseFlops(inputs, units), `dense ${inputs}->${units}${positions > 1 ? ` at ${positions} positions` : ''}`);
  }
  if (IGNORED.has(className) || params === 0) {
    return {
      name,
      className,
      outputShape,
      params,
      forward: 0,
      backward: 0,
      formula: IGNORED.has(className) ? 'elementwise or reshaping: not counted' : 'no weights: not counted',
    };
  }
  throw new Error(
    `modelFlops: layer '${name}' of class ${className} has ${params} trainable parameters and no FLOP rule; ` +
      'known: Conv2D, Dense, PatchMoE (and weightless or elementwise layers)',
  );
}

/**
 * Forward and backward FLOPs of one batch through `model`, layer by layer (see the module comment
 * for what is counted). The model's input shape must be fully known except the batch axis.
 */
export function modelFlops(model: tfl.LayersModel, batch = 1): ModelFlops {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`modelFlops: batch must be an integer >= 1; got ${batch}`);
  const perLayer = model.layers.map((layer) => layerFlops(layer, batch));
  const forward = perLayer.reduce((sum, l) => sum + l.forward, 0);
  const backward = perLayer.reduce((sum, l) => sum + l.backward, 0);
  return { batch, forward, backward, trainStep: forward + backward, perLayer };
}
