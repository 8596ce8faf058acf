/// <reference types="@webgpu/types" />
/**
 * Which kernels pmoe's WebGPU step runs on an adapter. `fp32`: every kernel computes and stores in
 * float32 (any adapter). `mixed`: the convolutions' products on the tensor cores through Dawn's
 * `chromium-experimental-subgroup-matrix` (f16 x f16 -> f32 tiles, with `shader-f16`), their
 * operands rounded to f16 in workgroup memory (gradients first scaled by a power of two from their
 * largest magnitude, so that small ones do not flush to zero) and accumulated in f32; weights,
 * activations, batch norm, the MoE's routing and SGD stay float32. Where the adapter lacks either
 * feature, `mixed` runs fp32 and says why.
 */

export const PRECISIONS = ['fp32', 'mixed'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** One of the adapter's subgroup-matrix shapes: an M x K by K x N product per subgroup. */
export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

/** What an adapter (or a device made from it) offers the step. */
export interface GpuCapabilities {
  readonly features: readonly string[];
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  /** Largest subgroup (warp) size; subgroup-matrix workgroups are a multiple of it. */
  readonly subgroupMaxSize?: number;
  readonly software: boolean;
}

export interface KernelPlan {
  readonly precision: Precision;
  /** The subgroup-matrix shape the products use (mixed). */
  readonly matrix?: SubgroupMatrixConfig & { readonly subgroupSize: number };
  /** One line: the kernels, for `pmoe backends` and run records. */
  readonly kernels: string;
  /** Why `mixed` was asked for and fp32 runs (`the adapter has no shader-f16`). */
  readonly fallback?: string;
}

export const SUBGROUP_MATRIX_FEATURE = 'chromium-experimental-subgroup-matrix';

/** The f16 x f16 -> f32 shape with the most work per call, if the adapter has one. */
export function halfMatrixConfig(capabilities: GpuCapabilities): SubgroupMatrixConfig | undefined {
  return capabilities.subgroupMatrixConfigs
    .filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32')
    .sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K)[0];
}

/** Why `mixed` cannot run on these capabilities, or undefined when it can. */
export function mixedUnavailable(capabilities: GpuCapabilities): string | undefined {
  if (!capabilities.features.includes('shader-f16')) return 'the adapter has no shader-f16';
  if (!capabilities.features.includes(SUBGROUP_MATRIX_FEATURE)) return `the adapter has no ${SUBGROUP_MATRIX_FEATURE}`;
  if (!halfMatrixConfig(capabilities)) return 'the adapter has no f16 x f16 -> f32 subgroup-matrix configuration';
  if (!capabilities.subgroupMaxSize) return 'the adapter reports no subgroup size';
  return undefined;
}

const FP32_KERNELS = 'fp32 WGSL: tiled implicit-GEMM convolutions with register blocking';

/** The kernels a requested precision gets on these capabilities. */
export function planKernels(requested: Precision, capabilities: GpuCapabilities): KernelPlan {
  const fp32 = `${FP32_KERNELS}${capabilities.software ? ' (1x1 blocks on a software adapter)' : ''}`;
  if (requested === 'fp32') return { precision: 'fp32', kernels: fp32 };
  const reason = mixedUnavailable(capabilities);
  if (reason) return { precision: 'fp32', kernels: fp32, fallback: reason };
  const config = halfMatrixConfig(capabilities)!;
  return {
    precision: 'mixed',
    matrix: { ...config, subgroupSize: capabilities.subgroupMaxSize! },
    kernels: `mixed: convolutions on subgroup matrices ${config.M}x${config.N}x${config.K} f16 -> f32, everything else fp32`,
  };
}

/** What a device offers: the features it was created with and its adapter's matrix configurations. */
export function deviceCapabilities(device: GPUDevice): GpuCapabilities {
  const info = (device as GPUDevice & { adapterInfo?: Record<string, unknown> }).adapterInfo ?? {};
  const configs = (info.subgroupMatrixConfigs as SubgroupMatrixConfig[] | undefined) ?? [];
  const text = `${String(info.architecture ?? '')} ${String(info.device ?? '')} ${String(info.description ?? '')}`;
  return {
    features: [...device.features].map(String).sort(),
    subgroupMatrixConfigs: configs.map(({ componentType, resultComponentType, M, N, K }) => ({ componentType, resultComponentType, M, N, K })),
    subgroupMaxSize: typeof info.subgroupMaxSize === 'number' && info.subgroupMaxSize > 0 ? info.subgroupMaxSize : undefined,
    software: info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe/i.test(text),
  };
}
