/// <reference types="@webgpu/types" />
import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { mayHaveGpu } from './gpu-device.js';
import { fixIntTranspose } from './int-transpose.js';
import { useProductFilterGradient } from './conv-filter-gradient.js';
import { patchSyncReads, reportDeviceErrors } from './sync-read.js';
import { SOFTWARE_HINT, softwareRequested, useSoftwareVulkan } from './software-vulkan.js';
import { SUBGROUP_MATRIX_FEATURE, type SubgroupMatrixConfig } from '../../training/webgpu/precision.js';

/** The adapter Dawn chose, as `pmoe backends` and run records describe it. */
export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A CPU implementation (SwiftShader, lavapipe), not a GPU. */
  readonly software: boolean;
  /** The adapter's WebGPU features (sorted). */
  readonly features: readonly string[];
  /** Its subgroup-matrix shapes (Dawn's chromium-experimental-subgroup-matrix; empty without it). */
  readonly subgroupMatrixConfigs: readonly SubgroupMatrixConfig[];
  /** Smallest and largest subgroup (warp) size, where reported. */
  readonly subgroupSizes?: readonly [number, number];
}

/**
 * Dawn toggles pmoe starts with: the experimental subgroup-matrix feature needs allow_unsafe_apis,
 * and f16 on NVIDIA's Vulkan driver needs vulkan_enable_f16_on_nvidia.
 */
const DAWN_TOGGLES = ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia'];

/** The optional features pmoe's kernels use, requested where the adapter has them. */
const WANTED_FEATURES = ['timestamp-query', 'shader-f16', 'subgroups', SUBGROUP_MATRIX_FEATURE];

/** WebGPU cannot start here; the message is one line saying what is missing and how to get it. */
export class WebgpuUnavailable extends Error {}

const INSTALL_HINT = 'npm install webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0';
const DRIVER_HINT =
  "install the GPU's Vulkan driver (NVIDIA: the proprietary driver, and libglvnd0, which its libGLX_nvidia.so.0 loads; in containers NVIDIA_DRIVER_CAPABILITIES=graphics,compute,utility)";

interface Dawn {
  create(options: string[]): GPU;
  globals: object;
}

interface Started {
  gpu: GPU;
  device: GPUDevice;
  adapter: AdapterSummary;
}

let started: Started | undefined;

async function loadPackages(): Promise<{ dawn: Dawn; backendClass: new (device: GPUDevice, info: GPUAdapterInfo) => tf.KernelBackend }> {
  let dawn: Dawn;
  let backendClass;
  try {
    dawn = (await import('webgpu')) as unknown as Dawn;
    // Imported while navigator.gpu is unset, so the package registers its kernels but no backend factory of its own.
    ({ WebGPUBackend: backendClass } = await import('@tensorflow/tfjs-backend-webgpu'));
  } catch {
    throw new WebgpuUnavailable(`webgpu: the optional packages webgpu and @tensorflow/tfjs-backend-webgpu are not installed (${INSTALL_HINT})`);
  }
  return { dawn, backendClass: backendClass as unknown as new (device: GPUDevice, info: GPUAdapterInfo) => tf.KernelBackend };
}

const SOFTWARE_NAMES = /swiftshader|llvmpipe|lavapipe|software/i;

function summarise(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMatrixConfigs?: SubgroupMatrixConfig[];
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const { vendor, architecture, device, description } = info;
  const fallback = info.isFallbackAdapter === true;
  const configs = (info.subgroupMatrixConfigs ?? []).map(({ componentType, resultComponentType, M, N, K }) => ({
    componentType,
    resultComponentType,
    M,
    N,
    K,
  }));
  return {
    vendor,
    architecture,
    device,
    description,
    software: fallback || SOFTWARE_NAMES.test(`${architecture} ${device} ${description}`),
    features: [...adapter.features].map(String).sort(),
    subgroupMatrixConfigs: configs,
    ...(info.subgroupMaxSize ? { subgroupSizes: [info.subgroupMinSize ?? info.subgroupMaxSize, info.subgroupMaxSize] as const } : {}),
  };
}

function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    return execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('libvulkan.so.1');
  } catch {
    return true; // cannot tell: let the driver message stand
  }
}

/** Why Dawn found no adapter, as one line. */
function noAdapterReason(software: boolean, icd: string | undefined): string {
  if (software && !icd)
    return "webgpu: PMOE_WEBGPU_SOFTWARE=1 but SwiftShader's Vulkan driver (vk_swiftshader_icd.json) was not found: apt-get install chromium libvulkan1";
  if (!hasVulkanLoader()) return `webgpu: no Vulkan loader (libvulkan.so.1) on this machine: apt-get install libvulkan1, then ${DRIVER_HINT}; ${SOFTWARE_HINT}`;
  if (software) return `webgpu: Dawn rejected the SwiftShader driver at ${icd}`;
  return `webgpu: Dawn found no usable Vulkan driver: ${DRIVER_HINT}; ${SOFTWARE_HINT}`;
}

function setNavigatorGpu(gpu: GPU | undefined): void {
  const global = globalThis as { navigator?: { gpu?: GPU } };
  if (gpu === undefined) {
    if (global.navigator) delete global.navigator.gpu;
    return;
  }
  // Node 21+ has a navigator without gpu; Node 20 none. tfjs-backend-webgpu checks navigator.gpu.
  if (global.navigator) Object.defineProperty(global.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  else global.navigator = { gpu };
}

/**
 * Starts Dawn and registers tfjs's `webgpu` backend on its adapter (PMOE_WEBGPU_SOFTWARE=1 first
 * points Vulkan at SwiftShader). With `requireHardware`, a software adapter is refused (`auto`).
 * Throws WebgpuUnavailable with a one-line reason. Idempotent while started.
 */
export async function startWebgpu(requireHardware = false): Promise<AdapterSummary> {
  if (started) {
    if (requireHardware && started.adapter.software) throw new WebgpuUnavailable('webgpu: the adapter is a software one');
    return started.adapter;
  }
  const software = softwareRequested();
  const icd = software ? useSoftwareVulkan() : undefined;
  // Without a GPU device node Dawn could only find a software driver it may reject, noisily.
  if (!software && !process.env.VK_ICD_FILENAMES && !mayHaveGpu()) {
    throw new WebgpuUnavailable(`webgpu: no GPU on this machine (no /dev/nvidia0 or /dev/dri/renderD*): ${DRIVER_HINT}; ${SOFTWARE_HINT}`);
  }
  const { dawn, backendClass } = await loadPackages();
  patchSyncReads(backendClass);
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(DAWN_TOGGLES);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebgpuUnavailable(noAdapterReason(software, icd));
  const summary = summarise(adapter);
  if (requireHardware && summary.software)
    throw new WebgpuUnavailable(`webgpu: only a software adapter (${summary.architecture || summary.description}) was found`);
  const limits = adapter.limits;
  // The limits tfjs-backend-webgpu asks for in a browser: the adapter's own, not WebGPU's defaults.
  const device = await adapter.requestDevice({
    requiredFeatures: WANTED_FEATURES.filter((feature) => adapter.features.has(feature)) as GPUFeatureName[],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  reportDeviceErrors(device);
  fixIntTranspose();
  useProductFilterGradient();
  setNavigatorGpu(gpu);
  started = { gpu, device, adapter: summary };
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new backendClass(device, adapter.info));
  return summary;
}

/** The adapter of the running WebGPU backend, if any. */
export function webgpuAdapter(): AdapterSummary | undefined {
  return started?.adapter;
}

/** The device the running WebGPU backend computes on (tfjs's kernels and pmoe's own), if started. */
export function webgpuDevice(): GPUDevice | undefined {
  return started?.device;
}

/**
 * Waits for the GPU's queued work, removes the backend, destroys the device and drops the Dawn
 * instance: dawn.node keeps Node alive while navigator.gpu holds it, and tearing SwiftShader down
 * under running work has crashed the process on exit. Safe to call when nothing was started.
 */
export async function releaseWebgpu(): Promise<void> {
  if (!started) return;
  const { device } = started;
  started = undefined;
  await device.queue.onSubmittedWorkDone();
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  await device.queue.onSubmittedWorkDone();
  device.destroy();
  setNavigatorGpu(undefined);
}

/**
 * Makes `webgpu` the tfjs backend: true when it runs. `requireHardware` (auto) refuses a software
 * adapter and returns false on any failure, leaving nothing started; otherwise a failure throws
 * WebgpuUnavailable with its one-line reason.
 */
export async function activateWebgpu(requireHardware: boolean): Promise<boolean> {
  try {
    await startWebgpu(requireHardware);
    if (!(await tf.setBackend('webgpu'))) throw new WebgpuUnavailable('webgpu: the tfjs WebGPU backend failed to start on this adapter');
    return true;
  } catch (error) {
    await releaseWebgpu();
    if (requireHardware) return false;
    throw error;
  }
}
