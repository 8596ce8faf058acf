import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core alone registers no gradients; the tfjs-layers bundle registers all of core's.
import '@tensorflow/tfjs-layers';
import { registerWasmKernels } from './wasm-kernels.js';
import { registerTopKGradient } from './topk-gradient.js';
import { registerGatherRows } from './gather-rows.js';
import { registerRowsProduct } from './rows-product.js';
import { registerExpertOutputs } from './expert-outputs.js';
import { registerExpertChoice } from './expert-choice.js';
import { registerBatchNormGradient } from './batchnorm-gradient.js';
import { registerBatchNormTraining } from './batch-norm-training.js';
import { registerReluGradient } from './relu-gradient.js';
import { checkWasmInternals } from './wasm-internals.js';

/** Backends pmoe can run on. `tensorflow` is @tensorflow/tfjs-node, used only when a user has installed it. */
export type BackendName = 'auto' | 'wasm' | 'cpu' | 'tensorflow';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'wasm', 'cpu', 'tensorflow'];

let initialised: Promise<string> | undefined;
let requested: BackendName | undefined;

async function tryTfjsNode(): Promise<boolean> {
  try {
    // Optional peer: never a dependency, because its install downloads libtensorflow.
    const name = '@tensorflow/tfjs-node';
    await import(name);
    return tf.findBackend('tensorflow') !== null;
  } catch {
    return false;
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function init(backend: BackendName): Promise<string> {
  tf.env().set('PROD', true); // silences the cpu backend's tfjs-node advertisement
  registerWasmKernels();
  registerTopKGradient();
  registerGatherRows();
  registerRowsProduct();
  registerExpertOutputs();
  registerExpertChoice();
  registerBatchNormGradient();
  registerBatchNormTraining();
  registerReluGradient();
  if (backend === 'tensorflow' || backend === 'auto') {
    if (await tryTfjsNode()) {
      await activate('tensorflow');
      return tf.getBackend();
    }
    if (backend === 'tensorflow') {
      throw new Error(
        "backend 'tensorflow' needs the optional package @tensorflow/tfjs-node, which is not installed; use --backend wasm or cpu",
      );
    }
  }
  if (backend !== 'cpu' && (await activate('wasm'))) {
    checkWasmInternals(tf.backend() as BackendWasm); // pmoe's wasm kernels rely on them
    return tf.getBackend();
  }
  if (backend === 'wasm') throw new Error("backend 'wasm' failed to start; use --backend cpu");
  if (!(await activate('cpu'))) throw new Error('no TensorFlow.js backend could be started');
  return tf.getBackend();
}

/**
 * Start TensorFlow.js once: `auto` prefers tfjs-node when installed, then wasm, then cpu.
 * Idempotent; asking again for a different backend switches to it.
 */
export async function initEngine(backend: BackendName = 'auto'): Promise<string> {
  if (!BACKEND_NAMES.includes(backend)) {
    throw new Error(`backend must be one of ${BACKEND_NAMES.join(', ')}; got '${String(backend)}'`);
  }
  if (initialised && requested === backend) return initialised;
  if (initialised) await initialised.catch(() => undefined);
  requested = backend;
  initialised = init(backend);
  return initialised;
}

export { tf };
