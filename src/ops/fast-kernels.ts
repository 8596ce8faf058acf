import * as tf from '@tensorflow/tfjs-core';
import { registerWasmKernels } from './wasm-kernels.js';
import { registerTopKGradient } from './topk-gradient.js';
import { registerGatherRows } from './gather-rows.js';
import { registerRowsProduct } from './rows-product.js';
import { registerExpertOutputs } from './expert-outputs.js';
import { registerBatchNormGradient } from './batchnorm-gradient.js';
import { registerBatchNormTraining } from './batch-norm-training.js';
import { registerReluGradient } from './relu-gradient.js';
import { registerReductionGradients } from './reduction-gradients.js';
import { registerFusedConvGradient } from './fused-conv-gradient.js';
import { registerMovingAverage } from './moving-average.js';
import { checkTfjsVersions, coreTfjsVersions } from './tfjs-versions.js';

/**
 * What installing pmoe's kernels changed in TensorFlow.js's registries, and how to undo it.
 * `added`: kernels and gradients that did not exist (pmoe's own ops, named `Pmoe…`; the TopK
 * gradient; the wasm backend's missing Conv2DBackpropFilter and UnsortedSegmentSum).
 * `replaced`: stock ones now wrapped or replaced (see docs/library.md for why each).
 * Entries read `backend/Kernel` for kernels and `gradient/Kernel` for gradients.
 */
export interface FastKernels {
  readonly added: readonly string[];
  readonly replaced: readonly string[];
  /** Puts back every kernel and gradient as it was before; idempotent. */
  restore(): void;
}

// Backends whose kernel registries are compared before and after installing.
const BACKENDS = ['cpu', 'wasm'] as const;

interface Snapshot {
  readonly kernels: Map<string, tf.KernelConfig>;
  readonly gradients: Map<string, tf.GradConfig | undefined>;
}

function snapshot(): Snapshot {
  const kernels = new Map<string, tf.KernelConfig>();
  for (const backend of BACKENDS) for (const config of tf.getKernelsForBackend(backend)) kernels.set(`${backend}/${config.kernelName}`, config);
  const gradients = new Map<string, tf.GradConfig | undefined>();
  for (const key of kernels.keys()) {
    const name = key.slice(key.indexOf('/') + 1);
    gradients.set(name, tf.getGradient(name));
  }
  return { kernels, gradients };
}

let installed: FastKernels | undefined;

/**
 * Installs pmoe's kernels into TensorFlow.js (process-wide, as tfjs's registries are): the ops
 * PatchMoE and the trainers use, the gaps of the wasm backend that training needs, and faster or
 * more accurate versions of a few stock wasm kernels and gradients. Nothing happens on import;
 * `restore()` (or restoreKernels()) undoes it. Loads the wasm backend, and throws a
 * TfjsVersionError when the installed tfjs is not the release whose internals pmoe reads.
 * Idempotent: while installed, returns the same handle.
 */
export async function useFastKernels(): Promise<FastKernels> {
  if (installed) return installed;
  const { version_wasm } = await import('@tensorflow/tfjs-backend-wasm');
  checkTfjsVersions({ ...coreTfjsVersions(), '@tensorflow/tfjs-backend-wasm': version_wasm });
  if (installed) return installed; // another caller finished while this one awaited
  const before = snapshot();
  registerWasmKernels();
  registerTopKGradient();
  registerGatherRows();
  registerRowsProduct();
  registerExpertOutputs();
  registerBatchNormGradient();
  registerBatchNormTraining();
  registerReluGradient();
  registerReductionGradients();
  registerFusedConvGradient();
  registerMovingAverage();
  const after = snapshot();
  const added: string[] = [];
  const replaced: string[] = [];
  for (const [key, config] of after.kernels) {
    const old = before.kernels.get(key);
    if (old === undefined) added.push(key);
    else if (old.kernelFunc !== config.kernelFunc) replaced.push(key);
  }
  for (const [name, config] of after.gradients) {
    const old = before.gradients.get(name);
    if (config !== old) (old === undefined ? added : replaced).push(`gradient/${name}`);
  }
  const handle: FastKernels = {
    added,
    replaced,
    restore() {
      if (installed !== handle) return;
      installed = undefined;
      for (const key of [...added, ...replaced]) {
        const [kind, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
        if (kind === 'gradient') {
          const old = before.gradients.get(name);
          if (old) tf.registerGradient(old);
          else tf.unregisterGradient(name);
          continue;
        }
        tf.unregisterKernel(name, kind);
        const old = before.kernels.get(key);
        if (old) tf.registerKernel(old);
      }
    },
  };
  installed = handle;
  return handle;
}

/** Undoes useFastKernels (no-op when they are not installed). */
export function restoreKernels(): void {
  installed?.restore();
}
