/// <reference types="@webgpu/types" />
/**
 * Trains an image model on WebGPU with pmoe's own step (step-program.ts): the weights stay on the
 * GPU between steps; each step uploads its images and labels, records the whole program into one
 * compute pass, and submits one command buffer. Loss and accuracy accumulate on the GPU and are read
 * when asked (once per epoch by the training loop), as are the weights (to hand them back to the
 * tfjs model for evaluation and saving).
 */
import { bufferWith, readRanges, storageBuffer } from '../../kernels/wgsl/gpu-buffers.js';
import type { GemmChoice } from '../../kernels/wgsl/gemm.js';
import { KernelRunner, recordDispatches } from '../../kernels/wgsl/kernel-runner.js';
import { METRIC_WORDS } from '../../kernels/wgsl/softmax-cross-entropy.js';
import type { ImageModelLayers } from '../../models/wrn-layers.js';
import { parameterLayout, type ParameterLayout } from './parameter-layout.js';
import { deviceCapabilities, planKernels, type KernelPlan, type Precision } from './precision.js';
import { StepProgram, type SharedBuffers } from './step-program.js';

export interface WebgpuTrainerOptions {
  readonly learningRate: number;
  /** fp32 (default), or mixed where the adapter has f16 subgroup matrices (precision.ts); fp32 otherwise. */
  readonly precision?: Precision;
  /** How the convolutions pick their tiles; by default register blocks up to 4x4, 1x1 on a software adapter. */
  readonly gemm?: GemmChoice;
}

/** What the step has done on the device since it was made: submissions, dispatches, reads (buffer maps). */
export interface StepCounters {
  submissions: number;
  dispatches: number;
  reads: number;
}

/** Loss and hits accumulated since the last reset. */
export interface StepMetrics {
  /** Sum over the images of their cross-entropy (each before its step's update). */
  readonly lossSum: number;
  readonly correct: number;
  readonly images: number;
}

export class WebgpuImageTrainer {
  readonly layout: ParameterLayout;
  readonly counters: StepCounters = { submissions: 0, dispatches: 0, reads: 0 };
  private readonly runner: KernelRunner;
  private readonly shared: SharedBuffers;
  private readonly programs = new Map<number, Promise<StepProgram>>();
  readonly gemm: GemmChoice;
  /** The kernels this trainer runs, and why mixed fell back to fp32 where it did. */
  readonly kernels: KernelPlan;

  constructor(
    readonly device: GPUDevice,
    readonly description: ImageModelLayers,
    private readonly options: WebgpuTrainerOptions,
  ) {
    this.layout = parameterLayout(description);
    this.runner = KernelRunner.of(device);
    const capabilities = deviceCapabilities(device);
    this.kernels = planKernels(options.precision ?? 'fp32', capabilities);
    this.gemm = options.gemm ?? (this.kernels.matrix ? { matrix: this.kernels.matrix } : capabilities.software ? { maxThreadBlock: 1 } : {});
    this.shared = {
      weights: storageBuffer(device, this.layout.trainableFloats, 'weights'),
      gradients: storageBuffer(device, this.layout.trainableFloats, 'gradients'),
      state: storageBuffer(device, this.layout.stateFloats, 'moving statistics'),
      metrics: bufferWith(device, new Float32Array(METRIC_WORDS), 'metrics'),
    };
  }

  /** The program of a batch size, built (and its pipelines compiled) on first use. */
  program(batch: number): Promise<StepProgram> {
    let program = this.programs.get(batch);
    if (!program) {
      program = StepProgram.build(this.runner, this.description, this.layout, this.shared, batch, this.options.learningRate, this.gemm);
      this.programs.set(batch, program);
    }
    return program;
  }

  /** Writes every weight (trainable and moving statistics) by its tfjs name; a missing one is an error. */
  writeWeights(values: (name: string) => Float32Array): void {
    const trainable = new Float32Array(this.layout.trainableFloats);
    const state = new Float32Array(this.layout.stateFloats);
    for (const slot of this.layout.weights.values()) {
      const value = values(slot.name);
      if (value.length !== slot.size)
        throw new RangeError(`webgpu step: weight ${slot.name} has ${value.length} values, expected ${slot.size} ([${slot.shape.join(', ')}])`);
      (slot.trainable ? trainable : state).set(value, slot.offset);
    }
    this.device.queue.writeBuffer(this.shared.weights, 0, trainable);
    if (state.length > 0) this.device.queue.writeBuffer(this.shared.state, 0, state);
  }

  /** Every weight by its tfjs name: one read of the weights and the moving statistics. */
  async readWeights(): Promise<Map<string, Float32Array>> {
    const [trainable, state] = await this.read([
      { buffer: this.shared.weights, words: this.layout.trainableFloats },
      { buffer: this.shared.state, words: this.layout.stateFloats },
    ]);
    return this.slice(new Float32Array(trainable), new Float32Array(state));
  }

  /** The last step's gradients by weight name (trainable weights only). */
  async readGradients(): Promise<Map<string, Float32Array>> {
    const [gradients] = await this.read([{ buffer: this.shared.gradients, words: this.layout.trainableFloats }]);
    const all = this.slice(new Float32Array(gradients), new Float32Array(0));
    for (const slot of this.layout.weights.values()) if (!slot.trainable) all.delete(slot.name);
    return all;
  }

  private slice(trainable: Float32Array, state: Float32Array): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const slot of this.layout.weights.values()) {
      const source = slot.trainable ? trainable : state;
      if (source.length > 0) out.set(slot.name, source.slice(slot.offset, slot.offset + slot.size));
    }
    return out;
  }

  /** A layer's output (or `<moe>/chosen`, ...) of the last step of this batch size, for tests. */
  async readActivation(batch: number, name: string, words: number): Promise<ArrayBuffer> {
    const program = await this.program(batch);
    const buffer = program.activations.get(name);
    if (!buffer) throw new Error(`webgpu step: no buffer ${name}`);
    const [bytes] = await this.read([{ buffer, words }]);
    return bytes;
  }

  /**
   * One SGD step on a batch: images [batch, H, W, C] row-major and integer labels. Uploads them,
   * records the program and submits it; returns without waiting for the GPU.
   */
  async step(images: Float32Array, labels: Int32Array): Promise<void> {
    const batch = labels.length;
    const program = await this.program(batch);
    if (images.length !== batch * this.description.inputShape.reduce((a, b) => a * b, 1)) {
      throw new RangeError(`webgpu step: ${images.length} image values for ${batch} images of [${this.description.inputShape.join(', ')}]`);
    }
    const { queue } = this.device;
    queue.writeBuffer(program.images, 0, images.buffer, images.byteOffset, images.byteLength);
    queue.writeBuffer(program.labels, 0, labels.buffer, labels.byteOffset, labels.byteLength);
    const encoder = this.device.createCommandEncoder({ label: 'training step' });
    const pass = encoder.beginComputePass({ label: 'training step' });
    recordDispatches(pass, program.kernels);
    pass.end();
    queue.submit([encoder.finish()]);
    this.counters.submissions++;
    this.counters.dispatches += program.kernels.length;
  }

  /** The metrics accumulated since the last reset (one read, which waits for the queued steps); `reset` zeroes them. */
  async readMetrics(reset = true): Promise<StepMetrics> {
    const [bytes] = await this.read([{ buffer: this.shared.metrics, words: METRIC_WORDS }]);
    const [lossSum, correct, images] = new Float32Array(bytes);
    if (reset) this.device.queue.writeBuffer(this.shared.metrics, 0, new Float32Array(METRIC_WORDS));
    return { lossSum, correct, images };
  }

  private async read(ranges: { buffer: GPUBuffer; words: number }[]): Promise<ArrayBuffer[]> {
    this.counters.reads++;
    return readRanges(this.device, ranges);
  }

  /** Dispatches of one step at this batch size. */
  async dispatchesPerStep(batch: number): Promise<number> {
    return (await this.program(batch)).kernels.length;
  }

  /** Distinct compute pipelines compiled. */
  get pipelines(): number {
    return this.runner.pipelineCount;
  }

  async destroy(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    for (const program of this.programs.values()) (await program.catch(() => undefined))?.destroy();
    for (const buffer of Object.values(this.shared)) buffer.destroy();
    this.programs.clear();
  }
}
