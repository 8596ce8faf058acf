import { tf } from '../engine/backend.js';
import { releaseWebgpu, startWebgpu, type AdapterSummary } from '../engine/webgpu/dawn.js';
import { useFastKernels } from '../ops/fast-kernels.js';
import { TFJS_VERSION } from '../ops/tfjs-versions.js';
import { planKernels, type KernelPlan } from '../training/webgpu/precision.js';

/** One backend as `pmoe backends` reports it. */
export interface BackendStatus {
  readonly name: 'wasm' | 'cpu' | 'webgpu' | 'tensorflow';
  readonly usable: boolean;
  readonly adapter?: AdapterSummary;
  /** One line, when not usable. */
  readonly reason?: string;
  /** webgpu: the kernels pmoe's own training step runs there at each --precision (WRN and WRN-pMoE). */
  readonly step?: { readonly fp32: KernelPlan; readonly mixed: KernelPlan };
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

async function tfjsBackend(name: 'wasm' | 'cpu'): Promise<BackendStatus> {
  try {
    return (await tf.setBackend(name)) ? { name, usable: true } : { name, usable: false, reason: `${name}: the backend failed to start` };
  } catch (error) {
    return { name, usable: false, reason: message(error) };
  }
}

async function webgpuStatus(): Promise<BackendStatus> {
  try {
    const adapter = await startWebgpu(false);
    const capabilities = { ...adapter, subgroupMaxSize: adapter.subgroupSizes?.[1] };
    return { name: 'webgpu', usable: true, adapter, step: { fp32: planKernels('fp32', capabilities), mixed: planKernels('mixed', capabilities) } };
  } catch (error) {
    return { name: 'webgpu', usable: false, reason: message(error) };
  } finally {
    await releaseWebgpu();
  }
}

/** tfjs-node: usable only where the user installed it (its install downloads libtensorflow, so it is never a dependency). */
async function tensorflowStatus(): Promise<BackendStatus> {
  try {
    const name = '@tensorflow/tfjs-node';
    await import(name);
  } catch (error) {
    const reason =
      (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
        ? `the optional package @tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node@${TFJS_VERSION}; its install downloads libtensorflow)`
        : message(error);
    return { name: 'tensorflow', usable: false, reason };
  }
  return tfjsBackend('tensorflow' as 'cpu').then((status) => ({ ...status, name: 'tensorflow' }));
}

/**
 * Throws, with the reason, when `backend` (webgpu or tensorflow) cannot start here: for the
 * commands whose runs go to worker processes, which would otherwise each fail and write a failed
 * line. wasm and cpu always start; auto falls back.
 */
export async function checkBackendStarts(backend: string): Promise<void> {
  const status = backend === 'webgpu' ? await webgpuStatus() : backend === 'tensorflow' ? await tensorflowStatus() : undefined;
  if (status && !status.usable) throw new Error(`--backend ${backend}: ${status.reason}; see \`pmoe backends\``);
}

/**
 * Every backend pmoe knows, whether it starts here, and what `--backend auto` would pick: `auto` for
 * the image models (WRN, WRN-pMoE), `autoTwoLayer` for the two-layer models, which auto keeps off
 * the GPU (EngineOptions.gpu).
 */
export async function listBackends(): Promise<{ backends: BackendStatus[]; auto: string; autoTwoLayer: string }> {
  await useFastKernels(); // loads the wasm backend, as every other command does through initEngine
  const backends = [await tfjsBackend('wasm'), await tfjsBackend('cpu'), await webgpuStatus(), await tensorflowStatus()];
  const usable = (name: string) => backends.find((b) => b.name === name)?.usable === true;
  const gpu = backends.find((b) => b.name === 'webgpu');
  const autoTwoLayer = usable('tensorflow') ? 'tensorflow' : usable('wasm') ? 'wasm' : 'cpu';
  const auto = gpu?.usable && !gpu.adapter?.software ? 'webgpu' : autoTwoLayer;
  return { backends, auto, autoTwoLayer };
}

export function formatBackends(listing: { backends: BackendStatus[]; auto: string; autoTwoLayer: string }): string {
  const lines = listing.backends.map((b) => {
    const adapter = b.adapter
      ? ` (${[b.adapter.vendor, b.adapter.architecture, b.adapter.description].filter(Boolean).join(', ')}${b.adapter.software ? '; software adapter' : ''})`
      : '';
    const line = `${b.name.padEnd(10)} ${b.usable ? 'usable' : 'not usable'}${adapter}${b.reason ? `: ${b.reason}` : ''}`;
    if (!b.adapter || !b.step) return line;
    const indent = ' '.repeat(11);
    const matrices = b.adapter.subgroupMatrixConfigs.map((c) => `${c.componentType} -> ${c.resultComponentType} ${c.M}x${c.N}x${c.K}`);
    return [
      line,
      `${indent}features: ${b.adapter.features.join(', ') || 'none'}`,
      `${indent}subgroup matrices: ${matrices.join(', ') || 'none'}${b.adapter.subgroupSizes ? `; subgroup size ${b.adapter.subgroupSizes.join('-')}` : ''}`,
      `${indent}pmoe's WRN step: ${b.step.fp32.kernels} (--precision fp32, the default)`,
      `${indent}--precision mixed: ${b.step.mixed.fallback ? `runs fp32 (${b.step.mixed.fallback})` : b.step.mixed.kernels}`,
    ].join('\n');
  });
  const auto =
    listing.auto === listing.autoTwoLayer
      ? `auto picks ${listing.auto}`
      : `auto picks ${listing.auto} for WRN and WRN-pMoE, ${listing.autoTwoLayer} for the two-layer models`;
  return [...lines, auto].join('\n');
}
