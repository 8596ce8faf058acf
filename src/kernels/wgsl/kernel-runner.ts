/// <reference types="@webgpu/types" />
import { COMPUTE_STAGE } from './gpu-buffers.js';
import type { BindingKind, WgslKernel } from './kernel.js';

/** A buffer, or a part of one (offset and size in bytes; the offset a multiple of the device's storage alignment). */
export interface BufferRange {
  readonly buffer: GPUBuffer;
  readonly offset?: number;
  readonly size?: number;
}

/** A kernel with its pipeline and buffers bound: one dispatch, ready to record. */
export interface BoundKernel {
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
}

const BUFFER_TYPE: Record<BindingKind, GPUBufferBindingType> = { read: 'read-only-storage', write: 'storage', uniform: 'uniform' };

/**
 * Compiles kernels into compute pipelines (one per distinct source, cached) and binds buffers to
 * them. Bind group layouts are explicit, from the kernel's binding list, so a binding the compiler
 * finds unused still binds.
 */
export class KernelRunner {
  private static readonly perDevice = new WeakMap<GPUDevice, KernelRunner>();

  /** The device's runner, so that every user of a device shares its compiled pipelines. */
  static of(device: GPUDevice): KernelRunner {
    let runner = KernelRunner.perDevice.get(device);
    if (!runner) {
      runner = new KernelRunner(device);
      KernelRunner.perDevice.set(device, runner);
    }
    return runner;
  }

  private readonly pipelines = new Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>();

  constructor(readonly device: GPUDevice) {}

  /** Distinct pipelines compiled so far. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private compile(kernel: WgslKernel): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
    const cached = this.pipelines.get(kernel.code);
    if (cached) return cached;
    const compiled = (async () => {
      const { device } = this;
      const module = device.createShaderModule({ code: kernel.code, label: kernel.name });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length > 0) {
        const first = errors[0];
        const line = kernel.code.split('\n')[first.lineNum - 1]?.trim() ?? '';
        throw new Error(`webgpu: kernel ${kernel.name} does not compile: ${first.message} (line ${first.lineNum}: ${line})`);
      }
      const layout = device.createBindGroupLayout({
        label: kernel.name,
        entries: kernel.bindings.map((b, binding) => ({ binding, visibility: COMPUTE_STAGE, buffer: { type: BUFFER_TYPE[b.kind] } })),
      });
      try {
        const pipeline = await device.createComputePipelineAsync({
          label: kernel.name,
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        });
        return { pipeline, layout };
      } catch (error) {
        throw new Error(`webgpu: kernel ${kernel.name} was rejected: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    })();
    this.pipelines.set(kernel.code, compiled);
    compiled.catch(() => this.pipelines.delete(kernel.code));
    return compiled;
  }

  /** The kernel's pipeline (compiled once) with `buffers` bound in binding order. */
  async bind(kernel: WgslKernel, buffers: readonly BufferRange[]): Promise<BoundKernel> {
    if (buffers.length !== kernel.bindings.length) {
      throw new Error(`webgpu: kernel ${kernel.name} binds ${kernel.bindings.map((b) => b.name).join(', ')}; got ${buffers.length} buffers`);
    }
    const { pipeline, layout } = await this.compile(kernel);
    const bindGroup = this.device.createBindGroup({
      label: kernel.name,
      layout,
      entries: buffers.map((range, binding) => ({
        binding,
        resource: { buffer: range.buffer, offset: range.offset ?? 0, ...(range.size === undefined ? {} : { size: range.size }) },
      })),
    });
    return { name: kernel.name, pipeline, bindGroup, workgroups: kernel.workgroups };
  }
}

/** Records the dispatches in order into one compute pass (each dispatch sees the writes of those before it). */
export function recordDispatches(pass: GPUComputePassEncoder, kernels: readonly BoundKernel[]): void {
  for (const kernel of kernels) {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, kernel.bindGroup);
    pass.dispatchWorkgroups(kernel.workgroups[0], kernel.workgroups[1], kernel.workgroups[2]);
  }
}
