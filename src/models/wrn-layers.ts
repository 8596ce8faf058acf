/**
 * One description of the image models' layers (WRN and WRN-pMoE): every layer in forward order with
 * its inputs, shapes, strides and, for the patch-level MoE, where the routers read and where the
 * gate acts. The tfjs model (models/wide-resnet.ts) is built from it, and so are the tape-free
 * training steps of each backend, which walk it forward and back; weights are named as the tfjs
 * model names them (`<layer>/kernel`, `<layer>/gamma`, ...), so a step can take its weights from the
 * model and be checked against its autodiff.
 *
 * Shapes are per image, channels last: [height, width, channels]; the batch is the step's.
 */
import type { GateMode } from '../routing/gate.js';
import type { RouterConfig } from '../routing/registry.js';
import type { Formulation } from '../routing/formulation.js';

/** What the description reads of a resolved WRN config (models/wide-resnet.ts fills the defaults). */
interface WrnShape {
  readonly architecture: 'wrn';
  readonly wideningFactor: number;
  readonly classes: number;
  readonly inputSize: number | readonly [number, number];
  readonly channels: number;
  readonly batchNormMomentum: number;
  readonly head?: Head;
}

/** ... and of a resolved WRN-pMoE config. */
interface WrnPmoeShape extends Omit<WrnShape, 'architecture'> {
  readonly architecture: 'wrn-pmoe';
  readonly formulation: Formulation;
  readonly patchSize: number | readonly [number, number];
  readonly experts: number;
  readonly patchesPerExpert: number;
  readonly kernelSize: number;
  readonly gate: GateMode;
  readonly router?: RouterConfig;
  readonly shortcut: boolean;
}

export type WrnLayersConfig = WrnShape | WrnPmoeShape;

/** [height, width, channels] of one image's feature map. */
export type MapShape = readonly [height: number, width: number, channels: number];

/** The input of the model: the images. */
export const IMAGES = 'images';

/** The output layer: `softmax`, one logit per class (absent means it), or `sigmoid`, one logit (class 1's) for a binary task. */
export const HEADS = ['softmax', 'sigmoid'] as const;
export type Head = (typeof HEADS)[number];

/** WRN-pMoE's initial router weights: each router its own draw, or one draw for all (the official code in some Keras versions). */
export const ROUTER_INITS = ['independent', 'identical'] as const;

/** How the patch-level MoE is computed, `sparse` or `official` (the two are described in routing/formulation.ts). */
export { FORMULATIONS, type Formulation } from '../routing/formulation.js';

interface LayerBase {
  /** Unique; the tfjs layer (or layer-name prefix) and weight-name prefix. */
  readonly name: string;
  /** Names of the layers (or `images`) this one reads, in order. */
  readonly inputs: readonly string[];
  readonly outputShape: MapShape | readonly [units: number];
}

/** A 2-D convolution with bias, channels last; weights `<name>/kernel` [k, k, in, out] and `<name>/bias` [out]. */
export interface ConvLayerSpec extends LayerBase {
  readonly kind: 'conv';
  readonly inputShape: MapShape;
  readonly outputShape: MapShape;
  readonly kernelSize: number;
  readonly stride: number;
  /** 'same' for 3x3 (pad (k-1)/2, output ceil(in / stride)); 'valid' for 1x1. */
  readonly padding: 'same' | 'valid';
  /** True for the stem on the images: no input gradient is needed. */
  readonly readsImages: boolean;
}

/**
 * Batch normalisation over every axis but channels, then ReLU. Weights `<name>_bn/gamma`, `<name>_bn/beta`
 * (trainable) and `<name>_bn/moving_mean`, `<name>_bn/moving_variance` (updated in training mode:
 * moving <- moving - (moving - batch value) (1 - momentum); the batch variance is the biased one).
 */
export interface BatchNormReluSpec extends LayerBase {
  readonly kind: 'bn-relu';
  readonly outputShape: MapShape;
  readonly momentum: number;
  readonly epsilon: number;
}

/** Sum of two maps of one shape (a residual connection). */
export interface AddSpec extends LayerBase {
  readonly kind: 'add';
  readonly outputShape: MapShape;
}

/**
 * The patch-level MoE (the paper's symbols: n patches, k experts, l patches per expert). Weights:
 * `<name>/router/kernel` [ph * pw * C, k] (patch values in row-major pixel order, channels last;
 * column s scores patches for expert s); `<name>/expert<s>/kernel` [kernelSize, kernelSize, C,
 * filtersPerExpert] and `<name>/expert<s>/bias`; with `official`, each expert's batch norm over the
 * C input channels: `<name>/expert<s>_bn/gamma`, `<name>/expert<s>_bn/beta` (trainable) and
 * `<name>/expert<s>_bn/moving_mean`, `<name>/expert<s>_bn/moving_variance` (updated in training mode
 * as a `bn-relu` layer's). Output: the k experts' maps concatenated on channels, expert-major:
 * [H, W, k * filtersPerExpert].
 *
 * Forward, both formulations: scores = patches x router kernel; expert s takes its l top-scoring
 * patches of each image, with gates G (`gate`). Then, per expert s:
 * - sparse: y_s = G * (conv_s(patch) + bias_s) on each chosen patch alone (zero padding at its
 *   border), zero elsewhere.
 * - official: m_s = the map times G tiled over each chosen patch (zero elsewhere);
 *   y_s = conv_s(ReLU(BN_s(m_s))) + bias_s over the whole map ('same' padding).
 */
export interface PatchMoeSpec extends LayerBase {
  readonly kind: 'patch-moe';
  readonly formulation: Formulation;
  readonly inputShape: MapShape;
  readonly outputShape: MapShape;
  readonly patch: { readonly height: number; readonly width: number };
  /** The patch grid; n = rows * cols, patches numbered row-major. */
  readonly grid: { readonly rows: number; readonly cols: number };
  /** n. */
  readonly patches: number;
  /** k. */
  readonly experts: number;
  /** l. */
  readonly patchesPerExpert: number;
  readonly filtersPerExpert: number;
  /** Side of each expert's square kernel ('same' padding: inside each patch when sparse, over the map when official). */
  readonly kernelSize: number;
  readonly gate: GateMode;
  /** Who routes (routing/registry.ts); absent: the paper's expert choice per image, as described above. */
  readonly router?: RouterConfig;
  /** The official formulation's per-expert batch norm (before each expert's ReLU and conv); null when sparse. */
  readonly expertBatchNorm: { readonly momentum: number; readonly epsilon: number } | null;
}

/** Mean over height and width: [H, W, C] -> [C]. */
export interface GlobalAveragePoolSpec extends LayerBase {
  readonly kind: 'global-average-pool';
  readonly inputShape: MapShape;
  readonly outputShape: readonly [channels: number];
}

/** A fully connected layer to the logits; weights `<name>/kernel` [in, units], `<name>/bias` [units]. */
export interface DenseSpec extends LayerBase {
  readonly kind: 'dense';
  readonly inputUnits: number;
  readonly outputShape: readonly [units: number];
}

export type ImageLayerSpec = ConvLayerSpec | BatchNormReluSpec | AddSpec | PatchMoeSpec | GlobalAveragePoolSpec | DenseSpec;

/** An image model as a list of layers in forward order (each reads only layers before it); the last outputs the logits. */
export interface ImageModelLayers {
  readonly architecture: WrnLayersConfig['architecture'];
  readonly inputShape: MapShape;
  /** The task's classes (the logits layer has one unit per class, or one with a sigmoid head). */
  readonly classes: number;
  readonly layers: readonly ImageLayerSpec[];
}

/** Keras's BatchNormalization epsilon, which tfjs-layers and the official code use. */
export const BATCH_NORM_EPSILON = 1e-3;

const sameSize = (size: number, stride: number) => Math.ceil(size / stride);

/** Collects layers and checks each input exists before it is read. */
class Describer {
  readonly layers: ImageLayerSpec[] = [];
  private readonly shapes = new Map<string, MapShape | readonly [number]>();

  constructor(
    readonly inputShape: MapShape,
    private readonly momentum: number,
  ) {
    this.shapes.set(IMAGES, inputShape);
  }

  private push<T extends ImageLayerSpec>(layer: T): string {
    if (this.shapes.has(layer.name)) throw new Error(`wrn-layers: duplicate layer name ${layer.name}`);
    this.layers.push(layer);
    this.shapes.set(layer.name, layer.outputShape);
    return layer.name;
  }

  map(name: string): MapShape {
    const shape = this.shapes.get(name);
    if (shape?.length !== 3) throw new Error(`wrn-layers: ${name} is not a feature map`);
    return shape as MapShape;
  }

  conv(input: string, filters: number, kernelSize: number, stride: number, name: string): string {
    const inputShape = this.map(input);
    const outputShape = [sameSize(inputShape[0], stride), sameSize(inputShape[1], stride), filters] as const;
    const padding = kernelSize === 1 ? 'valid' : 'same';
    return this.push({ kind: 'conv', name, inputs: [input], inputShape, outputShape, kernelSize, stride, padding, readsImages: input === IMAGES });
  }

  bnRelu(input: string, name: string): string {
    return this.push({ kind: 'bn-relu', name, inputs: [input], outputShape: this.map(input), momentum: this.momentum, epsilon: BATCH_NORM_EPSILON });
  }

  add(a: string, b: string, name: string): string {
    return this.push({ kind: 'add', name, inputs: [a, b], outputShape: this.map(b) });
  }

  /** Pre-activation block: BN-ReLU -> conv3x3 stride s -> BN-ReLU -> conv3x3, plus the (projected) input. */
  block(input: string, channels: number, stride: number, name: string): string {
    let out = this.bnRelu(input, `${name}_pre1`);
    out = this.conv(out, channels, 3, stride, `${name}_conv1`);
    out = this.bnRelu(out, `${name}_pre2`);
    out = this.conv(out, channels, 3, 1, `${name}_conv2`);
    const projected = stride !== 1 || this.map(input)[2] !== channels;
    return this.add(projected ? this.conv(input, channels, 1, stride, `${name}_shortcut`) : input, out, `${name}_add`);
  }

  patchMoe(input: string, config: WrnPmoeShape, name: string): string {
    const inputShape = this.map(input);
    const [ph, pw] = typeof config.patchSize === 'number' ? [config.patchSize, config.patchSize] : config.patchSize;
    const grid = { rows: inputShape[0] / ph, cols: inputShape[1] / pw };
    const filtersPerExpert = inputShape[2] / config.experts;
    return this.push({
      kind: 'patch-moe',
      name,
      inputs: [input],
      formulation: config.formulation,
      inputShape,
      outputShape: [inputShape[0], inputShape[1], config.experts * filtersPerExpert],
      patch: { height: ph, width: pw },
      grid,
      patches: grid.rows * grid.cols,
      experts: config.experts,
      patchesPerExpert: config.patchesPerExpert,
      filtersPerExpert,
      kernelSize: config.kernelSize,
      gate: config.gate,
      ...(config.router ? { router: config.router } : {}),
      expertBatchNorm: config.formulation === 'official' ? { momentum: this.momentum, epsilon: BATCH_NORM_EPSILON } : null,
    });
  }

  head(input: string, units: number): void {
    const normalised = this.bnRelu(input, 'final');
    const inputShape = this.map(normalised);
    const pooled = this.push({ kind: 'global-average-pool', name: 'pool', inputs: [normalised], inputShape, outputShape: [inputShape[2]] });
    this.push({ kind: 'dense', name: 'logits', inputs: [pooled], inputUnits: inputShape[2], outputShape: [units] });
  }
}

function imageShape(config: WrnLayersConfig): MapShape {
  const [h, w] = typeof config.inputSize === 'number' ? [config.inputSize, config.inputSize] : config.inputSize;
  return [h, w, config.channels];
}

/**
 * The layers of a resolved WRN or WRN-pMoE config, in the order the tfjs builder creates them (which
 * fixes the order their initialisers draw seeds in). WRN-pMoE: the WRN's stem and first two blocks,
 * then BN-ReLU -> conv3x3-64w stride 2 -> [sparse: BN-ReLU `moe_pre`] -> PatchMoE `moe`
 * [-> + 1x1 stride-2 projection of the block input, with `shortcut`] -> head.
 */
export function describeWrnModel(config: WrnLayersConfig): ImageModelLayers {
  const d = new Describer(imageShape(config), config.batchNormMomentum);
  const w = config.wideningFactor;
  let x = d.conv(IMAGES, 16, 3, 1, 'stem_conv');
  x = d.block(x, 16 * w, 1, 'block1');
  const blockInput = d.block(x, 32 * w, 2, 'block2');
  if (config.architecture === 'wrn') {
    x = d.block(blockInput, 64 * w, 2, 'block3');
  } else {
    x = d.bnRelu(blockInput, 'block3_pre1');
    x = d.conv(x, 64 * w, 3, 2, 'block3_conv1');
    if (config.formulation === 'sparse') x = d.bnRelu(x, 'moe_pre');
    x = d.patchMoe(x, config, 'moe');
    if (config.shortcut) x = d.add(d.conv(blockInput, 64 * w, 1, 2, 'block3_shortcut'), x, 'block3_add');
  }
  d.head(x, config.head === 'sigmoid' ? 1 : config.classes);
  return { architecture: config.architecture, inputShape: d.inputShape, classes: config.classes, layers: d.layers };
}

/** The description each built model was made from (models/wide-resnet.ts records it), so that a trainer can walk it. */
const described = new WeakMap<object, ImageModelLayers>();

export function recordLayers(model: object, layers: ImageModelLayers): void {
  described.set(model, layers);
}

/** The layer description of a model built by buildWideResNet / buildWrnPmoe, or undefined for any other model. */
export function layersOf(model: object): ImageModelLayers | undefined {
  return described.get(model);
}
