/// <reference types="@webgpu/types" />
/**
 * The WebGPU training step of an image model (WRN, WRN-pMoE in either formulation), built by
 * walking its layer description (models/wrn-layers.ts) forward and then backward: a fixed list of
 * dispatches of pmoe's WGSL kernels (src/kernels/wgsl/) over buffers allocated once per batch size.
 * Forward: each layer's output into its own buffer (batch norm keeps its batch statistics); the
 * loss kernel adds the step's loss and hits to a metrics buffer on the GPU. Backward, layers in
 * reverse: each layer's input gradient is written by the first of its readers to run and added to
 * by the others (a block's input feeds both the block and its shortcut). Then one SGD dispatch over
 * every trainable weight. Nothing is read back: the trainer (webgpu-trainer.ts) records the whole
 * list into one compute pass of one command buffer per step.
 */
import type { BatchNormReluSpec, ConvLayerSpec, ImageLayerSpec, ImageModelLayers, PatchMoeSpec } from '../../models/wrn-layers.js';
import { addKernel } from '../../kernels/wgsl/add.js';
import { batchNormReluKernel } from '../../kernels/wgsl/batch-norm-relu.js';
import { batchNormReluGradientKernels } from '../../kernels/wgsl/batch-norm-relu-gradient.js';
import { batchNormStatisticsKernels } from '../../kernels/wgsl/batch-norm-statistics.js';
import { biasGradientKernels } from '../../kernels/wgsl/bias-gradient.js';
import { convFilterGradientKernels } from '../../kernels/wgsl/conv-filter-gradient.js';
import { convForwardKernel } from '../../kernels/wgsl/conv-forward.js';
import type { ConvShape } from '../../kernels/wgsl/conv-geometry.js';
import { convInputGradientKernels } from '../../kernels/wgsl/conv-input-gradient.js';
import { denseInputGradientKernel, denseKernel, denseWeightGradientKernel } from '../../kernels/wgsl/dense.js';
import { expertChannelsKernel } from '../../kernels/wgsl/expert-channels.js';
import { expertChoiceKernel } from '../../kernels/wgsl/expert-choice.js';
import { expertOutputGradientKernel } from '../../kernels/wgsl/expert-output-gradient.js';
import { gateGradientKernel } from '../../kernels/wgsl/gate-gradient.js';
import { gateMapGradientKernel, gateMapInputGradientKernel, gateMapKernel } from '../../kernels/wgsl/gate-map.js';
import { gatherPatchesKernel } from '../../kernels/wgsl/gather-patches.js';
import { globalAveragePoolGradientKernel, globalAveragePoolKernel } from '../../kernels/wgsl/global-average-pool.js';
import { GRADIENT_SCALE_CHUNKS, gradientScaleKernels } from '../../kernels/wgsl/gradient-scale.js';
import { storageBuffer, WORD } from '../../kernels/wgsl/gpu-buffers.js';
import type { GemmChoice } from '../../kernels/wgsl/gemm.js';
import type { BoundKernel, BufferRange, KernelRunner } from '../../kernels/wgsl/kernel-runner.js';
import type { WgslKernel } from '../../kernels/wgsl/kernel.js';
import { passGradientKernel } from '../../kernels/wgsl/pass-gradient.js';
import { patchInputGradientKernel } from '../../kernels/wgsl/patch-input-gradient.js';
import { patchMoeGeometry, type PatchMoeShape } from '../../kernels/wgsl/patch-layout.js';
import { placePatchesKernel } from '../../kernels/wgsl/place-patches.js';
import { routerGradientKernels } from '../../kernels/wgsl/router-gradient.js';
import { routerScoresKernel } from '../../kernels/wgsl/router-scores.js';
import { sgdKernel } from '../../kernels/wgsl/sgd.js';
import { softmaxCrossEntropyKernel } from '../../kernels/wgsl/softmax-cross-entropy.js';
import { expertStride, type ParameterLayout } from './parameter-layout.js';
import { isPaperRouting } from '../../routing/registry.js';

/** The buffers every batch size's program shares: weights, their gradients, moving statistics, metrics. */
export interface SharedBuffers {
  readonly weights: GPUBuffer;
  readonly gradients: GPUBuffer;
  readonly state: GPUBuffer;
  readonly metrics: GPUBuffer;
}

/** A binding before the scratch buffer exists: a range, or the shared scratch for partial sums. */
type Binding = BufferRange | 'partials';

const floats = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Why the WebGPU step cannot train a description, or null when it can. */
export function webgpuStepUnsupported(description: ImageModelLayers): string | null {
  const moe = description.layers.find((layer): layer is PatchMoeSpec => layer.kind === 'patch-moe');
  if (moe && !isPaperRouting(moe.router)) return `the router '${moe.router!.name}' (the WebGPU step routes by the paper's expert choice only)`;
  if (moe && moe.patchesPerExpert > 64) return `l = ${moe.patchesPerExpert} patches per expert (the expert-choice kernel keeps at most 64)`;
  const head = description.layers.at(-1);
  if (head?.kind !== 'dense' || head.outputShape[0] !== description.classes) return 'a one-logit head';
  return null;
}

export function convShapeOf(layer: ConvLayerSpec, batch: number): ConvShape {
  const [inHeight, inWidth, inChannels] = layer.inputShape;
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outChannels: layer.outputShape[2],
    kernelSize: layer.kernelSize,
    stride: layer.stride,
    padding: layer.padding,
  };
}

export function patchMoeShapeOf(layer: PatchMoeSpec, batch: number): PatchMoeShape {
  const [height, width, channels] = layer.inputShape;
  return {
    batch,
    height,
    width,
    channels,
    patchHeight: layer.patch.height,
    patchWidth: layer.patch.width,
    experts: layer.experts,
    patchesPerExpert: layer.patchesPerExpert,
    filtersPerExpert: layer.filtersPerExpert,
    gate: layer.gate,
  };
}

/** The step's dispatches for one batch size, and the buffers they read and write. */
export class StepProgram {
  readonly images: GPUBuffer;
  readonly labels: GPUBuffer;
  /** Every layer's output (and `images`). */
  readonly activations = new Map<string, GPUBuffer>();
  /** The loss's gradient at every layer's output. */
  readonly gradients = new Map<string, GPUBuffer>();
  /** Kernels in the order they run; `kernels` has them bound after build(). */
  private readonly pending: { kernel: WgslKernel; bindings: Binding[] }[] = [];
  private partialFloats = 0;
  private scaleBuffers?: { maxima: BufferRange; scale: BufferRange };
  private readonly owned: GPUBuffer[] = [];
  kernels: readonly BoundKernel[] = [];

  private constructor(
    private readonly device: GPUDevice,
    readonly description: ImageModelLayers,
    private readonly layout: ParameterLayout,
    private readonly shared: SharedBuffers,
    readonly batch: number,
    private readonly learningRate: number,
    private readonly gemm: GemmChoice,
  ) {
    this.images = this.buffer(batch * floats(description.inputShape), 'images');
    this.labels = this.buffer(batch, 'labels');
    this.activations.set('images', this.images);
  }

  /** Builds, allocates and binds (compiling the pipelines it is the first to use). */
  static async build(
    runner: KernelRunner,
    description: ImageModelLayers,
    layout: ParameterLayout,
    shared: SharedBuffers,
    batch: number,
    learningRate: number,
    gemm: GemmChoice = {},
  ): Promise<StepProgram> {
    const reason = webgpuStepUnsupported(description);
    if (reason) throw new Error(`webgpu step: cannot train ${reason}`);
    const program = new StepProgram(runner.device, description, layout, shared, batch, learningRate, gemm);
    program.walk();
    const partials = program.buffer(program.partialFloats, 'partial sums');
    program.kernels = await Promise.all(
      program.pending.map(({ kernel, bindings }) =>
        runner.bind(
          kernel,
          bindings.map((b) => (b === 'partials' ? { buffer: partials } : b)),
        ),
      ),
    );
    return program;
  }

  /** The buffers this program allocated (not the shared ones). */
  destroy(): void {
    for (const buffer of this.owned) buffer.destroy();
  }

  private buffer(words: number, label: string): GPUBuffer {
    const buffer = storageBuffer(this.device, words, label);
    this.owned.push(buffer);
    return buffer;
  }

  private push(kernel: WgslKernel, bindings: Binding[], partialFloats = 0): void {
    this.pending.push({ kernel, bindings });
    this.partialFloats = Math.max(this.partialFloats, partialFloats);
  }

  private weight(name: string, buffer: 'weights' | 'gradients' | 'state' = 'weights'): BufferRange {
    const slot = this.layout.weights.get(name);
    if (!slot) throw new Error(`webgpu step: no weight ${name} in the layout`);
    const source = slot.trainable ? (buffer === 'state' ? undefined : this.shared[buffer]) : this.shared.state;
    if (!source) throw new Error(`webgpu step: ${name} is not a moving statistic`);
    return { buffer: source, offset: slot.offset * WORD, size: slot.size * WORD };
  }

  /** All k experts' kernels (or biases) as one range, expert s at s times the stride. */
  private experts(layer: PatchMoeSpec, what: 'kernel' | 'bias', buffer: 'weights' | 'gradients'): { range: BufferRange; stride: number } {
    const first = this.layout.weights.get(`${layer.name}/expert0/${what}`)!;
    const stride = expertStride(this.layout, layer, what);
    return {
      range: { buffer: this.shared[buffer], offset: first.offset * WORD, size: ((layer.experts - 1) * stride + first.size) * WORD },
      stride,
    };
  }

  private outputSize(layer: ImageLayerSpec): number {
    return this.batch * floats(layer.outputShape);
  }

  private activation(name: string): GPUBuffer {
    const buffer = this.activations.get(name);
    if (!buffer) throw new Error(`webgpu step: ${name} is read before it is computed`);
    return buffer;
  }

  /** Where a layer's input gradient goes and whether another reader already wrote there. */
  private gradientTarget(name: string, written: Set<string>): { buffer: GPUBuffer; accumulate: boolean } {
    const accumulate = written.has(name);
    written.add(name);
    return { buffer: this.gradients.get(name)!, accumulate };
  }

  private walk(): void {
    const { layers } = this.description;
    for (const layer of layers) {
      const output = this.buffer(this.outputSize(layer), layer.name);
      this.activations.set(layer.name, output);
      this.gradients.set(layer.name, this.buffer(this.outputSize(layer), `d ${layer.name}`));
      this.forward(layer, output);
    }
    const head = layers[layers.length - 1];
    this.push(softmaxCrossEntropyKernel({ batch: this.batch, classes: this.description.classes }), [
      { buffer: this.activation(head.name) },
      { buffer: this.labels },
      { buffer: this.gradients.get(head.name)! },
      { buffer: this.shared.metrics },
    ]);
    const written = new Set<string>([head.name]);
    for (let i = layers.length - 1; i >= 0; i--) this.backward(layers[i], written);
    this.push(sgdKernel({ count: this.layout.trainableFloats, learningRate: this.learningRate }), [
      { buffer: this.shared.weights },
      { buffer: this.shared.gradients },
    ]);
  }

  private forward(layer: ImageLayerSpec, output: GPUBuffer): void {
    const x = { buffer: this.activation(layer.inputs[0]) };
    switch (layer.kind) {
      case 'conv':
        this.push(convForwardKernel(convShapeOf(layer, this.batch), this.gemm), [
          x,
          this.weight(`${layer.name}/kernel`),
          this.weight(`${layer.name}/bias`),
          { buffer: output },
        ]);
        break;
      case 'bn-relu': {
        const { rows, channels } = this.bnShape(layer);
        const stats = this.buffer(2 * channels, `${layer.name} statistics`);
        this.activations.set(`${layer.name}/statistics`, stats);
        this.batchNormReluForward(`${layer.name}_bn`, layer, rows, channels, x, { buffer: stats }, { buffer: output });
        break;
      }
      case 'add':
        this.push(addKernel(this.outputSize(layer)), [x, { buffer: this.activation(layer.inputs[1]) }, { buffer: output }]);
        break;
      case 'patch-moe':
        this.patchMoeForward(layer, x, output);
        break;
      case 'global-average-pool': {
        const [height, width, channels] = layer.inputShape;
        this.push(globalAveragePoolKernel({ batch: this.batch, positions: height * width, channels }), [x, { buffer: output }]);
        break;
      }
      case 'dense':
        this.push(denseKernel({ batch: this.batch, inputs: layer.inputUnits, units: layer.outputShape[0] }), [
          x,
          this.weight(`${layer.name}/kernel`),
          this.weight(`${layer.name}/bias`),
          { buffer: output },
        ]);
        break;
    }
  }

  private backward(layer: ImageLayerSpec, written: Set<string>): void {
    const dy = { buffer: this.gradients.get(layer.name)! };
    const input = layer.inputs[0];
    const x = { buffer: this.activation(input) };
    switch (layer.kind) {
      case 'dense': {
        const attrs = { batch: this.batch, inputs: layer.inputUnits, units: layer.outputShape[0] };
        this.push(denseWeightGradientKernel(attrs), [x, dy, this.weight(`${layer.name}/kernel`, 'gradients'), this.weight(`${layer.name}/bias`, 'gradients')]);
        const target = this.gradientTarget(input, written);
        if (target.accumulate) throw new Error(`webgpu step: ${input} feeds the dense layer and another layer`);
        this.push(denseInputGradientKernel(attrs), [dy, this.weight(`${layer.name}/kernel`), { buffer: target.buffer }]);
        break;
      }
      case 'global-average-pool': {
        const [height, width, channels] = layer.inputShape;
        const target = this.gradientTarget(input, written);
        this.push(globalAveragePoolGradientKernel({ batch: this.batch, positions: height * width, channels }, target.accumulate), [
          dy,
          { buffer: target.buffer },
        ]);
        break;
      }
      case 'bn-relu': {
        const { rows, channels } = this.bnShape(layer);
        const target = this.gradientTarget(input, written);
        const y = { buffer: this.activation(layer.name) };
        const stats = { buffer: this.activation(`${layer.name}/statistics`) };
        this.batchNormReluBackward(`${layer.name}_bn`, rows, channels, { x, y, dy, stats, dx: { buffer: target.buffer } }, target.accumulate);
        break;
      }
      case 'conv': {
        const shape = convShapeOf(layer, this.batch);
        const scale = this.gradientScale(dy, this.outputSize(layer));
        const filter = convFilterGradientKernels(shape, undefined, this.gemm);
        const dw = this.weight(`${layer.name}/kernel`, 'gradients');
        this.push(filter.product, [x, dy, filter.sum ? 'partials' : dw, ...scale], filter.partialFloats);
        if (filter.sum) this.push(filter.sum, ['partials', dw]);
        const bias = biasGradientKernels({ rows: this.batch * layer.outputShape[0] * layer.outputShape[1], channels: layer.outputShape[2] });
        const db = this.weight(`${layer.name}/bias`, 'gradients');
        this.push(bias.partial, [dy, db, 'partials'], bias.partialFloats);
        this.push(bias.finish, [dy, db, 'partials']);
        if (!layer.readsImages) {
          const target = this.gradientTarget(input, written);
          for (const kernel of convInputGradientKernels(shape, target.accumulate, this.gemm))
            this.push(kernel, [dy, this.weight(`${layer.name}/kernel`), { buffer: target.buffer }, ...scale]);
        }
        break;
      }
      case 'add':
        for (const name of layer.inputs) {
          const target = this.gradientTarget(name, written);
          this.push(passGradientKernel(this.outputSize(layer), target.accumulate), [dy, { buffer: target.buffer }]);
        }
        break;
      case 'patch-moe':
        this.patchMoeBackward(layer, x, dy, written);
        break;
    }
  }

  /**
   * On subgroup matrices (precision mixed), the power-of-two scale of a gradient that the products
   * reading it round to f16: kernels that compute it, and the binding the products add. Nothing in fp32.
   */
  private gradientScale(dy: BufferRange, count: number): BufferRange[] {
    if (!this.gemm.matrix) return [];
    this.scaleBuffers ??= { maxima: { buffer: this.buffer(GRADIENT_SCALE_CHUNKS, 'gradient maxima') }, scale: { buffer: this.buffer(1, 'gradient scale') } };
    const { maxima, scale } = this.scaleBuffers;
    for (const kernel of gradientScaleKernels(count)) this.push(kernel, [dy, maxima, scale]);
    return [scale];
  }

  /** ReLU(BN(x)) of x [rows, channels] into y, with the weights `<bn>/gamma`, ...; the batch statistics into stats. */
  private batchNormReluForward(
    bn: string,
    norm: { momentum: number; epsilon: number },
    rows: number,
    channels: number,
    x: BufferRange,
    stats: BufferRange,
    y: BufferRange,
  ): void {
    const statistics = batchNormStatisticsKernels({ rows, channels, momentum: norm.momentum, epsilon: norm.epsilon });
    const movingMean = this.weight(`${bn}/moving_mean`, 'state');
    const movingVariance = this.weight(`${bn}/moving_variance`, 'state');
    for (const kernel of statistics.kernels) this.push(kernel, [x, stats, movingMean, movingVariance, 'partials'], statistics.partialFloats);
    this.push(batchNormReluKernel({ rows, channels }), [x, stats, this.weight(`${bn}/gamma`), this.weight(`${bn}/beta`), y]);
  }

  /** Its backward: gamma's and beta's gradients, and dx written (or added to, with `accumulate`). */
  private batchNormReluBackward(
    bn: string,
    rows: number,
    channels: number,
    at: { x: BufferRange; y: BufferRange; dy: BufferRange; stats: BufferRange; dx: BufferRange },
    accumulate: boolean,
  ): void {
    const { x, y, dy, stats, dx } = at;
    const kernels = batchNormReluGradientKernels({ rows, channels, accumulate });
    const dgamma = this.weight(`${bn}/gamma`, 'gradients');
    const dbeta = this.weight(`${bn}/beta`, 'gradients');
    for (const kernel of kernels.sums) this.push(kernel, [x, y, dy, stats, dgamma, dbeta, 'partials'], kernels.partialFloats);
    this.push(kernels.inputGradient, [x, y, dy, stats, this.weight(`${bn}/gamma`), dgamma, dbeta, dx]);
  }

  private bnShape(layer: BatchNormReluSpec): { rows: number; channels: number } {
    const [height, width, channels] = layer.outputShape;
    return { rows: this.batch * height * width, channels };
  }

  /** The scratch buffers of a PatchMoE's forward and backward, named `<layer>/<what>`. */
  private moeBuffer(layer: PatchMoeSpec, what: string, words: number): BufferRange {
    const name = `${layer.name}/${what}`;
    let buffer = this.activations.get(name);
    if (!buffer) {
      buffer = this.buffer(words, name);
      this.activations.set(name, buffer);
    }
    return { buffer };
  }

  private expertConv(layer: PatchMoeSpec): ConvShape {
    const [, , channels] = layer.inputShape;
    return {
      batch: this.batch * layer.patchesPerExpert,
      inHeight: layer.patch.height,
      inWidth: layer.patch.width,
      inChannels: channels,
      outChannels: layer.filtersPerExpert,
      kernelSize: layer.kernelSize,
      stride: 1,
      padding: 'same',
      groups: layer.experts,
      kernelGroupStride: expertStride(this.layout, layer, 'kernel'),
      biasGroupStride: expertStride(this.layout, layer, 'bias'),
    };
  }

  /** The routing's buffers: scores [batch n, k], chosen and gates [batch, k, l], lse [batch, k], slot [batch, k, n]. */
  private routingBuffers(layer: PatchMoeSpec) {
    const g = patchMoeGeometry(patchMoeShapeOf(layer, this.batch));
    const choices = g.batch * g.experts * g.patchesPerExpert;
    return {
      scores: this.moeBuffer(layer, 'scores', g.batch * g.patches * g.experts),
      chosen: this.moeBuffer(layer, 'chosen', choices),
      gates: this.moeBuffer(layer, 'gates', choices),
      lse: this.moeBuffer(layer, 'lse', g.batch * g.experts),
      slot: this.moeBuffer(layer, 'slot', g.batch * g.experts * g.patches),
    };
  }

  private moeBuffers(layer: PatchMoeSpec) {
    const g = patchMoeGeometry(patchMoeShapeOf(layer, this.batch));
    return {
      ...this.routingBuffers(layer),
      gathered: this.moeBuffer(layer, 'gathered', g.experts * g.slots * g.patchValues),
      expertOut: this.moeBuffer(layer, 'expert outputs', g.experts * g.slots * g.pixels * g.filtersPerExpert),
    };
  }

  /** Router scores on the MoE's input z and each expert's choice of patches (both formulations). */
  private route(layer: PatchMoeSpec, z: BufferRange): void {
    const shape = patchMoeShapeOf(layer, this.batch);
    const b = this.routingBuffers(layer);
    this.push(routerScoresKernel(shape, this.gemm), [z, this.weight(`${layer.name}/router/kernel`), b.scores]);
    this.push(expertChoiceKernel(shape), [b.scores, b.chosen, b.gates, b.lse, b.slot]);
  }

  /** From the gates' gradient: the scores' and the router kernel's gradients (both formulations). */
  private routeBackward(layer: PatchMoeSpec, z: BufferRange, dGates: BufferRange): BufferRange {
    const shape = patchMoeShapeOf(layer, this.batch);
    const g = patchMoeGeometry(shape);
    const b = this.routingBuffers(layer);
    const dScores = this.moeBuffer(layer, 'd scores', g.batch * g.patches * g.experts);
    this.push(gateGradientKernel(shape), [b.scores, b.chosen, b.gates, b.lse, dGates, dScores]);
    const routerGradient = routerGradientKernels(shape, undefined, this.gemm);
    const dRouter = this.weight(`${layer.name}/router/kernel`, 'gradients');
    this.push(routerGradient.product, [z, dScores, routerGradient.sum ? 'partials' : dRouter], routerGradient.partialFloats);
    if (routerGradient.sum) this.push(routerGradient.sum, ['partials', dRouter]);
    return dScores;
  }

  private patchMoeForward(layer: PatchMoeSpec, z: BufferRange, output: GPUBuffer): void {
    if (layer.formulation === 'official') {
      this.officialForward(layer, z, output);
      return;
    }
    const shape = patchMoeShapeOf(layer, this.batch);
    const b = this.moeBuffers(layer);
    this.route(layer, z);
    this.push(gatherPatchesKernel(shape), [z, b.chosen, b.gathered]);
    this.push(convForwardKernel(this.expertConv(layer), this.gemm), [
      b.gathered,
      this.experts(layer, 'kernel', 'weights').range,
      this.experts(layer, 'bias', 'weights').range,
      b.expertOut,
    ]);
    this.push(placePatchesKernel(shape), [b.expertOut, b.gates, b.slot, { buffer: output }]);
  }

  private patchMoeBackward(layer: PatchMoeSpec, z: BufferRange, dy: BufferRange, written: Set<string>): void {
    if (layer.formulation === 'official') {
      this.officialBackward(layer, z, dy, written);
      return;
    }
    const shape = patchMoeShapeOf(layer, this.batch);
    const g = patchMoeGeometry(shape);
    const b = this.moeBuffers(layer);
    const dExpertOut = this.moeBuffer(layer, 'd expert outputs', g.experts * g.slots * g.pixels * g.filtersPerExpert);
    const dGates = this.moeBuffer(layer, 'd gates', g.batch * g.experts * g.patchesPerExpert);
    const dGathered = this.moeBuffer(layer, 'd gathered', g.experts * g.slots * g.patchValues);
    this.push(expertOutputGradientKernel(shape), [dy, b.expertOut, b.chosen, b.gates, dExpertOut, dGates]);
    const conv = this.expertConv(layer);
    const bias = biasGradientKernels({ rows: g.slots * g.pixels, channels: g.filtersPerExpert, groups: g.experts, outGroupStride: conv.biasGroupStride });
    const db = this.experts(layer, 'bias', 'gradients').range;
    this.push(bias.partial, [dExpertOut, db, 'partials'], bias.partialFloats);
    this.push(bias.finish, [dExpertOut, db, 'partials']);
    const scale = this.gradientScale(dExpertOut, g.experts * g.slots * g.pixels * g.filtersPerExpert);
    const filter = convFilterGradientKernels(conv, undefined, this.gemm);
    const dw = this.experts(layer, 'kernel', 'gradients').range;
    this.push(filter.product, [b.gathered, dExpertOut, filter.sum ? 'partials' : dw, ...scale], filter.partialFloats);
    if (filter.sum) this.push(filter.sum, ['partials', dw]);
    for (const kernel of convInputGradientKernels(conv, false, this.gemm))
      this.push(kernel, [dExpertOut, this.experts(layer, 'kernel', 'weights').range, dGathered, ...scale]);
    const dScores = this.routeBackward(layer, z, dGates);
    const target = this.gradientTarget(layer.inputs[0], written);
    this.push(patchInputGradientKernel(shape, target.accumulate), [
      dGathered,
      b.slot,
      dScores,
      this.weight(`${layer.name}/router/kernel`),
      { buffer: target.buffer },
    ]);
  }
  /**
   * The official formulation's k experts as one grouped convolution over the whole map, each on its
   * gated copy of the map after its own BN-ReLU: input m, r [k, batch, H, W, C], output [k, batch, H, W, f].
   */
  private officialExpertConv(layer: PatchMoeSpec): ConvShape {
    const [height, width, channels] = layer.inputShape;
    return {
      batch: this.batch,
      inHeight: height,
      inWidth: width,
      inChannels: channels,
      outChannels: layer.filtersPerExpert,
      kernelSize: layer.kernelSize,
      stride: 1,
      padding: layer.kernelSize === 1 ? 'valid' : 'same',
      groups: layer.experts,
      kernelGroupStride: expertStride(this.layout, layer, 'kernel'),
      biasGroupStride: expertStride(this.layout, layer, 'bias'),
    };
  }

  /** The official formulation's buffers: m (the gated copies), r (their BN-ReLUs), the experts' outputs and batch statistics; `expert` binds expert s's part of a [k, ...] map. */
  private officialBuffers(layer: PatchMoeSpec) {
    const [height, width, channels] = layer.inputShape;
    const mapFloats = this.batch * height * width * channels;
    const words = layer.experts * mapFloats;
    if ((mapFloats * WORD) % 256 !== 0)
      throw new Error(`webgpu step: ${layer.name} (official) needs batch H W C in multiples of 64 floats to bind each expert's map (has ${mapFloats})`);
    const expert = (range: BufferRange, s: number): BufferRange => ({ buffer: range.buffer, offset: s * mapFloats * WORD, size: mapFloats * WORD });
    return {
      rows: this.batch * height * width,
      channels,
      expert,
      masked: this.moeBuffer(layer, 'masked', words),
      normalised: this.moeBuffer(layer, 'normalised', words),
      expertOut: this.moeBuffer(layer, 'expert outputs', this.batch * height * width * layer.experts * layer.filtersPerExpert),
      statistics: (s: number) => this.moeBuffer(layer, `expert${s}/statistics`, 2 * channels),
    };
  }

  private officialForward(layer: PatchMoeSpec, z: BufferRange, output: GPUBuffer): void {
    const norm = layer.expertBatchNorm;
    if (!norm) throw new Error(`webgpu step: ${layer.name} (official) has no expert batch norm`);
    const shape = patchMoeShapeOf(layer, this.batch);
    const r = this.routingBuffers(layer);
    const o = this.officialBuffers(layer);
    this.route(layer, z);
    this.push(gateMapKernel(shape), [z, r.gates, r.slot, o.masked]);
    for (let s = 0; s < layer.experts; s++)
      this.batchNormReluForward(`${layer.name}/expert${s}_bn`, norm, o.rows, o.channels, o.expert(o.masked, s), o.statistics(s), o.expert(o.normalised, s));
    this.push(convForwardKernel(this.officialExpertConv(layer), this.gemm), [
      o.normalised,
      this.experts(layer, 'kernel', 'weights').range,
      this.experts(layer, 'bias', 'weights').range,
      o.expertOut,
    ]);
    this.push(expertChannelsKernel({ rows: o.rows, experts: layer.experts, filters: layer.filtersPerExpert }, 'concatenate'), [
      o.expertOut,
      { buffer: output },
    ]);
  }

  private officialBackward(layer: PatchMoeSpec, z: BufferRange, dy: BufferRange, written: Set<string>): void {
    const shape = patchMoeShapeOf(layer, this.batch);
    const g = patchMoeGeometry(shape);
    const r = this.routingBuffers(layer);
    const o = this.officialBuffers(layer);
    const outFloats = o.rows * layer.experts * layer.filtersPerExpert;
    const dExpertOut = this.moeBuffer(layer, 'd expert outputs', outFloats);
    const dNormalised = this.moeBuffer(layer, 'd normalised', layer.experts * o.rows * o.channels);
    const dMasked = this.moeBuffer(layer, 'd masked', layer.experts * o.rows * o.channels);
    const dGates = this.moeBuffer(layer, 'd gates', g.batch * g.experts * g.patchesPerExpert);
    this.push(expertChannelsKernel({ rows: o.rows, experts: layer.experts, filters: layer.filtersPerExpert }, 'split'), [dy, dExpertOut]);
    const conv = this.officialExpertConv(layer);
    const bias = biasGradientKernels({ rows: o.rows, channels: layer.filtersPerExpert, groups: layer.experts, outGroupStride: conv.biasGroupStride });
    const db = this.experts(layer, 'bias', 'gradients').range;
    this.push(bias.partial, [dExpertOut, db, 'partials'], bias.partialFloats);
    this.push(bias.finish, [dExpertOut, db, 'partials']);
    const scale = this.gradientScale(dExpertOut, outFloats);
    const filter = convFilterGradientKernels(conv, undefined, this.gemm);
    const dw = this.experts(layer, 'kernel', 'gradients').range;
    this.push(filter.product, [o.normalised, dExpertOut, filter.sum ? 'partials' : dw, ...scale], filter.partialFloats);
    if (filter.sum) this.push(filter.sum, ['partials', dw]);
    for (const kernel of convInputGradientKernels(conv, false, this.gemm))
      this.push(kernel, [dExpertOut, this.experts(layer, 'kernel', 'weights').range, dNormalised, ...scale]);
    for (let s = 0; s < layer.experts; s++) {
      const at = { x: o.expert(o.masked, s), y: o.expert(o.normalised, s), dy: o.expert(dNormalised, s), stats: o.statistics(s), dx: o.expert(dMasked, s) };
      this.batchNormReluBackward(`${layer.name}/expert${s}_bn`, o.rows, o.channels, at, false);
    }
    this.push(gateMapGradientKernel(shape), [dMasked, z, r.chosen, dGates]);
    const dScores = this.routeBackward(layer, z, dGates);
    const target = this.gradientTarget(layer.inputs[0], written);
    this.push(gateMapInputGradientKernel(shape, target.accumulate), [
      dMasked,
      r.gates,
      r.slot,
      dScores,
      this.weight(`${layer.name}/router/kernel`),
      { buffer: target.buffer },
    ]);
  }
}
